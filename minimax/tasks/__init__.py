"""Tasks: what is being learnt (target data, noise prior, the two networks)."""

from minimax.core.task import Task
from minimax.tasks.custom import DataTask
from minimax.tasks.dirac import DiracGAN, LinearWGAN
from minimax.tasks.images import MNIST, FashionMNIST
from minimax.tasks.mixtures import GaussianMixture2D, Grid25, Ring8
from minimax.tasks.normal1d import Normal1D
from minimax.tasks.stacked import StackedMNIST

__all__ = ["DataTask", "DiracGAN", "FashionMNIST", "GaussianMixture2D", "Grid25", "LinearWGAN", "MNIST", "Normal1D",
           "Ring8", "StackedMNIST", "Task"]
