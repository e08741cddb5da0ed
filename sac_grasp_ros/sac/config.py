"""Typed settings of the SAC learner; defaults are the original trainer's values (see docs/reference)."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Literal

CudaGraphSetting = Literal["auto", "off", "eager"]
"""SACConfig.cuda_graph values (the update path, see captured.update_path)"""
Critic = Literal["sac", "crossq"]
"""SACConfig.critic values"""
CUDA_GRAPH_SETTINGS: tuple[str, ...] = typing.get_args(CudaGraphSetting)
CRITICS: tuple[str, ...] = typing.get_args(Critic)


@dataclass
class SACConfig:
    """Every hyperparameter of the learner in one place; the trainer's CLI is generated from it."""

    hidden_size: int = 512
    """width of every hidden layer (Q networks and policy)"""
    q_hidden_layers: int = 3
    """number of hidden layers of each Q network"""
    policy_hidden_layers: int = 4
    """number of hidden layers of the policy network"""
    q_lr: float = 3e-4
    """Adam learning rate of the twin Q networks"""
    policy_lr: float = 3e-4
    """Adam learning rate of the policy"""
    alpha_lr: float = 3e-4
    """Adam learning rate of log(alpha), the entropy temperature"""
    gamma: float = 0.99
    """discount factor"""
    n_step: int = 1
    """steps summed into each stored return before bootstrapping with gamma^n_step (sac.nstep);
    1 is plain one-step SAC, as in the original"""
    tau: float = 0.01
    """soft target update rate: target <- (1 - tau) * target + tau * online"""
    batch_size: int = 128
    """transitions per gradient update"""
    log_std_min: float = -20.0
    """lower clamp of the policy's log standard deviation"""
    log_std_max: float = 2.0
    """upper clamp of the policy's log standard deviation"""
    init_alpha: float = 1.0
    """initial entropy temperature (log_alpha starts at log(init_alpha))"""
    autotune_alpha: bool = True
    """learn alpha towards the target entropy; off keeps alpha = init_alpha"""
    target_entropy: float | None = None
    """entropy target of the automatic tuning; None means -act_dim (SAC v2 heuristic)"""
    reward_scale: float = 1.0
    """rewards are multiplied by this before the Bellman target"""
    reward_normalisation: bool = False
    """the original's per-batch normalisation 10 * (r - mean) / (std + 1e-6) instead of reward_scale"""
    q_layer_norm: bool = False
    """LayerNorm after each hidden layer of the Q networks (as in RLPD): keeps Q estimates of actions
    far from the data from running away"""
    critic: Critic = "sac"
    """sac: twin critics with target networks (Haarnoja et al.); crossq: twin critics with BatchRenorm
    layers and no target networks, trained on (s, a) and (s', a') in one batch (Bhatt et al. 2024,
    CrossQ): the bootstrap uses the current critic, so values propagate without the target lag"""
    policy_delay: int = 1
    """policy and temperature updated every this many critic updates (CrossQ and TD3 use 3)"""
    adam_beta1: float = 0.9
    """Adam's first-moment decay for every optimiser of the learner (CrossQ uses 0.5)"""
    q_last_layer_init: float = 3e-3
    """last layer of each Q network initialised uniform(-x, x) as in the original; 0 keeps torch's default"""
    learning_starts: int = 1000
    """env steps collected (random actions) before the first gradient update"""
    utd_ratio: float = 1.0
    """gradient updates per env step (update-to-data ratio); the original made 1 per step per worker"""
    demo_ratio: float = 0.25
    """fraction of each batch drawn from demonstrations when a demo file is given"""
    buffer_capacity: int = 1_000_000
    """replay buffer capacity (transitions)"""
    device: str = "auto"
    """torch device: auto (cuda when available), cpu or cuda"""
    seed: int | None = None
    """seed of torch/numpy/python random; None leaves them unseeded"""
    compile: bool = False
    """torch.compile the update functions (off by default: a speed-up, not a different algorithm)"""
    torch_threads: int = 0
    """torch.set_num_threads value on CPU; 0 leaves torch's default"""
    cuda_graph: CudaGraphSetting = "auto"
    """update path: auto (whole updates captured in CUDA graphs on a device-resident replay buffer on
    CUDA, the plain eager update on CPU), off (the plain update everywhere), eager (the device-buffer
    update without capture, any device: for checks)"""
    cuda_graph_updates: int = 1
    """updates per CUDA graph replay on the captured path"""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Fail early with the name of the bad field instead of deep inside torch."""
        positive_ints = (
            "hidden_size",
            "q_hidden_layers",
            "policy_hidden_layers",
            "batch_size",
            "buffer_capacity",
            "cuda_graph_updates",
            "n_step",
            "policy_delay",
        )
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"SACConfig.{name} must be a positive integer, got {value!r}")
        for name in ("q_lr", "policy_lr", "alpha_lr", "init_alpha"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SACConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"SACConfig.gamma must be in [0, 1], got {self.gamma!r}")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"SACConfig.tau must be in (0, 1], got {self.tau!r}")
        if not self.log_std_min < self.log_std_max:
            raise ValueError(
                f"SACConfig.log_std_min ({self.log_std_min}) must be < log_std_max ({self.log_std_max})"
            )
        if not 0.0 <= self.demo_ratio < 1.0:
            raise ValueError(f"SACConfig.demo_ratio must be in [0, 1), got {self.demo_ratio!r}")
        if self.utd_ratio <= 0:
            raise ValueError(f"SACConfig.utd_ratio must be > 0, got {self.utd_ratio!r}")
        if self.learning_starts < 0:
            raise ValueError(f"SACConfig.learning_starts must be >= 0, got {self.learning_starts!r}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"SACConfig.device must be auto, cpu or cuda[:N], got {self.device!r}")
        if self.cuda_graph not in CUDA_GRAPH_SETTINGS:
            raise ValueError(f"SACConfig.cuda_graph must be auto, off or eager, got {self.cuda_graph!r}")
        if self.critic not in CRITICS:
            raise ValueError(f"SACConfig.critic must be one of {CRITICS}, got {self.critic!r}")
        if self.critic == "crossq" and self.q_layer_norm:
            raise ValueError("SACConfig.q_layer_norm does not apply to critic: crossq (BatchRenorm critics)")
        if self.cuda_graph == "eager" and not self.capturable:
            raise ValueError("SACConfig.cuda_graph eager needs critic: sac and policy_delay: 1")
        if not 0.0 <= self.adam_beta1 < 1.0:
            raise ValueError(f"SACConfig.adam_beta1 must be in [0, 1), got {self.adam_beta1!r}")
        if self.torch_threads < 0:
            raise ValueError(f"SACConfig.torch_threads must be >= 0, got {self.torch_threads!r}")

    @property
    def capturable(self) -> bool:
        """Whether the device update paths (captured CUDA graphs, eager device buffer) can run these
        settings: not CrossQ's mode switches nor a policy delay kept on the host."""
        return self.critic == "sac" and self.policy_delay == 1

    @property
    def bootstrap_discount(self) -> float:
        """gamma^n_step: the discount of the bootstrapped value after an n-step return."""
        return self.gamma**self.n_step

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SACConfig:
        """Build from a plain dict (JSON/YAML/ROS parameters); unknown keys are an error, not ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown SACConfig field(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        return cls(**values)

    def network_shape(self) -> dict[str, int | bool | str]:
        """The fields that decide tensor shapes: a checkpoint must match them to load."""
        return {
            "hidden_size": self.hidden_size,
            "q_hidden_layers": self.q_hidden_layers,
            "policy_hidden_layers": self.policy_hidden_layers,
            "q_layer_norm": self.q_layer_norm,
            "critic": self.critic,
        }

    @property
    def q_norm(self) -> str:
        """The critics' normalisation layers (networks.NORMS) these settings ask for."""
        if self.critic == "crossq":
            return "batch_renorm"
        return "layer" if self.q_layer_norm else "none"
