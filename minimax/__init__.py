"""minimax: a GAN as a two-player min-max game, in the Gymnasium/PettingZoo style.

The generator and the discriminator are agents: each turn the environment shows
the acting player its loss and gradient on a fresh minibatch, the player's
update rule answers with the change to its parameters, and the reward is minus
its loss. ``import minimax`` registers the environments with PettingZoo and
Gymnasium (see :mod:`minimax.envs.registration`).
"""

from minimax import _aliases

_aliases.install()

from minimax.envs.aec import GameAECEnv
from minimax.envs.parallel import GameParallelEnv
from minimax.envs.single import SinglePlayerEnv
from minimax.core.game import Evaluation, Game, Minibatch
from minimax.core.losses import LossFamily, Minimax, NonSaturating, make_loss
from minimax.envs.vector import VectorGameEnv
from minimax.envs.registration import make_aec, make_parallel, make_single, make_vector, register_all
from minimax.core.schedules import DISCRIMINATOR, GENERATOR, PLAYERS, Alternating, Schedule, Simultaneous, make_schedule
from minimax.tasks import MNIST, DiracGAN, FashionMNIST, Normal1D, StackedMNIST, Task
from minimax.tasks.payoff import Bilinear, PayoffGame, Saddle
from minimax.training import History, train
from minimax.vector_game import VectorGame
from minimax.vector_training import VectorHistory, per_game, train_vector
from minimax.envs.numpy_edge import to_numpy

register_all()

__version__ = "0.1.0"

__all__ = [
    "DISCRIMINATOR",
    "Bilinear",
    "DiracGAN",
    "GENERATOR",
    "PLAYERS",
    "Alternating",
    "Evaluation",
    "FashionMNIST",
    "Game",
    "GameAECEnv",
    "GameParallelEnv",
    "History",
    "LossFamily",
    "MNIST",
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
    "make_aec",
    "make_loss",
    "make_parallel",
    "make_schedule",
    "make_single",
    "to_numpy",
    "train",
    "train_vector",
    "per_game",
    "make_vector",
    "VectorGame",
    "VectorGameEnv",
    "VectorHistory",
]
