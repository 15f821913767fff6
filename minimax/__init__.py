"""minimax: a GAN as a two-player min-max game, in the Gymnasium/PettingZoo style.

The generator and the discriminator are agents: each turn the environment shows
the acting player its loss and gradient on a fresh minibatch, the player's
update rule answers with the change to its parameters, and the reward is minus
its loss. ``import minimax`` registers the environments with PettingZoo and
Gymnasium (see :mod:`minimax.envs.registration`).

Layers (each imports only from those before it): ``utils`` -> ``core`` (players, flat buffers,
losses, schedules, networks, the game of N games, the match, the joint field) -> ``datasets``
-> ``tasks`` -> ``envs`` (the views of a match, and their registration) -> ``training`` (the
loop, history, checkpoints, run logs) -> ``eval`` (metrics, classifier, analysis) -> ``sweep``
-> ``cli``.
"""

from minimax import _aliases

_aliases.install()

from minimax.core import field  # noqa: E402  (minimax.field.eigenvalues, as before)
from minimax.core.game import Evaluation, Game, Minibatch, VectorGame  # noqa: E402
from minimax.core.losses import LossFamily, Minimax, NonSaturating, make_loss  # noqa: E402
from minimax.core.match import Match  # noqa: E402
from minimax.core.schedules import (  # noqa: E402
    DISCRIMINATOR,
    GENERATOR,
    PLAYERS,
    Alternating,
    Schedule,
    Simultaneous,
    make_schedule,
)
from minimax.envs.aec import GameAECEnv  # noqa: E402
from minimax.envs.numpy_edge import to_numpy  # noqa: E402
from minimax.envs.parallel import GameParallelEnv  # noqa: E402
from minimax.envs.registration import (  # noqa: E402
    make_aec,
    make_parallel,
    make_single,
    make_vector,
    register_all,
    register_task,
)
from minimax.envs.single import SinglePlayerEnv  # noqa: E402
from minimax.envs.vector import VectorGameEnv  # noqa: E402
from minimax.tasks import MNIST, DiracGAN, FashionMNIST, Normal1D, StackedMNIST, Task  # noqa: E402
from minimax.tasks.custom import DataTask  # noqa: E402
from minimax.tasks.payoff import Bilinear, PayoffGame, Saddle  # noqa: E402
from minimax.training import History, train  # noqa: E402
from minimax.training.loop import VectorHistory, per_game, train_vector  # noqa: E402
from minimax.utils.version import VERSION  # noqa: E402

register_all()

__version__ = VERSION

__all__ = [
    "DISCRIMINATOR",
    "GENERATOR",
    "PLAYERS",
    "Alternating",
    "Bilinear",
    "DataTask",
    "DiracGAN",
    "Evaluation",
    "FashionMNIST",
    "Game",
    "GameAECEnv",
    "GameParallelEnv",
    "History",
    "LossFamily",
    "MNIST",
    "Match",
    "Minibatch",
    "Minimax",
    "NonSaturating",
    "Normal1D",
    "PayoffGame",
    "Saddle",
    "Schedule",
    "Simultaneous",
    "SinglePlayerEnv",
    "StackedMNIST",
    "Task",
    "VectorGame",
    "VectorGameEnv",
    "VectorHistory",
    "field",
    "make_aec",
    "make_loss",
    "make_parallel",
    "make_schedule",
    "make_single",
    "make_vector",
    "per_game",
    "register_task",
    "to_numpy",
    "train",
    "train_vector",
]
