"""The SAC learner: owns the networks and optimisers, acts on batches, and runs gradient updates.

Soft Actor-Critic with twin critics, target critics and automatic entropy tuning
(Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications"). The losses live in
`losses.py`; this class only wires them to the optimisers.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Protocol

import numpy as np
import torch

from sac_grasp_ros.sac import losses
from sac_grasp_ros.sac.captured import UpdateRunner, same_device, update_path
from sac_grasp_ros.sac.config import SACConfig
from sac_grasp_ros.sac.device_buffer import DeviceReplayBuffer
from sac_grasp_ros.sac.networks import CriticEnsemble, TanhGaussianPolicy
from sac_grasp_ros.sac.replay import ReplayBatch, ReplayBuffer
from sac_grasp_ros.sac.seeding import resolve_device, seed_everything

STATE_KEYS = (
    "policy",
    "q",
    "q_target",
    "log_alpha",
    "q_optimizer",
    "policy_optimizer",
    "alpha_optimizer",
    "num_updates",
)


class BatchSource(Protocol):
    """Anything with `len()` and `sample(n)` -> ReplayBatch: the replay buffer and the demonstrations."""

    def __len__(self) -> int: ...

    def sample(self, batch_size: int, device: torch.device | str | None = None) -> ReplayBatch: ...


def demo_share(batch_size: int, demo_ratio: float, demo: BatchSource | None) -> int:
    """Rows of a batch drawn from the demonstrations: round(batch_size * demo_ratio), 0 without any."""
    return round(batch_size * demo_ratio) if demo is not None and len(demo) > 0 else 0


def sample_mixed(
    buffer: BatchSource,
    demo: BatchSource | None,
    batch_size: int,
    demo_ratio: float,
    device: torch.device | None = None,
) -> ReplayBatch:
    """A batch with round(batch_size * demo_ratio) rows from `demo` and the rest from `buffer`.

    The original appended the whole demonstration file to every batch; a fixed share keeps the
    batch size (and the weight of demonstrations) constant however large the file is. `device`
    brings both parts to one device (the buffer and the demonstrations may live apart).
    """
    demo_count = demo_share(batch_size, demo_ratio, demo)
    if len(buffer) == 0:
        raise ValueError("cannot sample a batch: the replay buffer is empty")
    batch = buffer.sample(batch_size - demo_count, device)
    if demo_count:
        batch = ReplayBatch.concat(batch, demo.sample(demo_count, device))
    return batch


def make_adam(
    params: list[torch.Tensor], lr: float, device: torch.device, capturable: bool = False, beta1: float = 0.9
) -> torch.optim.Adam:
    """Adam with the fused kernel (one pass over all parameters), else the multi-tensor one.

    The default single-tensor loop costs several passes over memory per parameter tensor; on CPU that
    is a noticeable share of an update at these network sizes. `capturable` keeps the step count on
    the device, which a CUDA graph needs (CUDA only).
    """
    flags: dict[str, Any] = {"betas": (beta1, 0.999)}
    if capturable:
        flags["capturable"] = True
    try:
        return torch.optim.Adam(params, lr=lr, fused=True, **flags)
    except (RuntimeError, ValueError):  # fused not supported on this device/build
        return torch.optim.Adam(params, lr=lr, foreach=device.type == "cuda", **flags)


KERNEL_FLAGS = ("fused", "foreach", "capturable")


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load an Adam state saved by any update path, keeping this optimiser's own kernel flags.

    torch's `load_state_dict` takes fused/foreach/capturable from the file: a CPU checkpoint would
    make a captured learner's Adam uncapturable, a captured one a CPU Adam capturable. The step
    counts are put where this optimiser's flags keep them (on the parameter's device when fused
    or capturable, else on the CPU).
    """
    own = [{flag: group.get(flag) for flag in KERNEL_FLAGS} for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, flags in zip(optimizer.param_groups, own, strict=True):
        group.update(flags)
        on_device = bool(flags["fused"] or flags["capturable"])
        for param in group["params"]:
            param_state = optimizer.state.get(param, {})
            step = param_state.get("step")
            if isinstance(step, torch.Tensor):
                param_state["step"] = step.to(param.device if on_device else torch.device("cpu"))


class SAC:
    """Soft Actor-Critic learner for continuous actions in [-1, 1]^act_dim."""

    def __init__(self, obs_dim: int, act_dim: int, config: SACConfig | None = None) -> None:
        self.config = config = config if config is not None else SACConfig()
        config.validate()
        if obs_dim < 1 or act_dim < 1:
            raise ValueError(f"obs_dim and act_dim must be >= 1, got {obs_dim}, {act_dim}")
        if config.seed is not None:
            seed_everything(config.seed)
        if config.torch_threads > 0:
            torch.set_num_threads(config.torch_threads)
        self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
        self.device = resolve_device(config.device)
        self.target_entropy = float(-act_dim if config.target_entropy is None else config.target_entropy)
        self.num_updates = 0

        self.policy = TanhGaussianPolicy(
            obs_dim,
            act_dim,
            config.hidden_size,
            config.policy_hidden_layers,
            config.log_std_min,
            config.log_std_max,
            config.q_last_layer_init,
        ).to(self.device)
        self.q = CriticEnsemble(
            obs_dim,
            act_dim,
            config.hidden_size,
            config.q_hidden_layers,
            2,
            config.q_last_layer_init,
            config.q_norm,
        ).to(self.device)
        if config.critic == "crossq":
            self.q.eval()  # running statistics, except in the critic loss's own forward pass
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)  # unused by crossq; kept for the format
        self.log_alpha = torch.tensor(
            math.log(config.init_alpha), device=self.device, requires_grad=config.autotune_alpha
        )
        self.update_path = update_path(config.cuda_graph, self.device) if config.capturable else "classic"
        """classic (host buffer, eager), eager (device buffer, no graph) or captured (CUDA graphs)"""
        capturable, beta1 = self.update_path == "captured", config.adam_beta1
        self.q_optimizer = make_adam(list(self.q.parameters()), config.q_lr, self.device, capturable, beta1)
        self.policy_optimizer = make_adam(
            list(self.policy.parameters()), config.policy_lr, self.device, capturable, beta1
        )
        self.alpha_optimizer = make_adam([self.log_alpha], config.alpha_lr, self.device, capturable, beta1)
        self._runner: UpdateRunner | None = None

        self._target_fn = losses.bellman_target
        self._critic_fn = losses.critic_loss
        self._actor_fn = losses.actor_loss
        if config.compile:
            self._target_fn = torch.compile(losses.bellman_target)
            self._critic_fn = torch.compile(losses.critic_loss)
            self._actor_fn = torch.compile(losses.actor_loss)

    # ----------------------------------------------------------------- acting
    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.detach().exp()

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Actions in [-1, 1] for a batch of observations [B, obs_dim] (a single [obs_dim] gives [act_dim]).

        Stochastic actions sample the policy (exploration); deterministic ones are tanh(mean) (evaluation).
        """
        obs_array = np.asarray(obs, dtype=np.float32)
        single = obs_array.ndim == 1
        if single:
            obs_array = obs_array[None]
        if obs_array.ndim != 2 or obs_array.shape[1] != self.obs_dim:
            raise ValueError(f"act() expects observations of shape [B, {self.obs_dim}], got {np.shape(obs)}")
        if not np.isfinite(obs_array).all():
            raise ValueError("act() got an observation containing NaN or inf")
        with torch.no_grad():
            obs_tensor = torch.from_numpy(obs_array).to(self.device)
            if deterministic:
                actions = self.policy.deterministic_action(obs_tensor)
            else:
                actions = self.policy.sample(obs_tensor)[0]
            actions = actions.cpu().numpy()
        return actions[0] if single else actions

    # ---------------------------------------------------------------- learning
    def update(self, batch: ReplayBatch) -> dict[str, float]:
        """One gradient step on critics, policy and temperature; returns the losses as floats."""
        return {name: float(value) for name, value in self._update(batch.to(self.device)).items()}

    def update_from(
        self, buffer: BatchSource, num_updates: int, demo: BatchSource | None = None
    ) -> dict[str, float]:
        """`num_updates` steps on batches from `buffer`, a `demo_ratio` share of each drawn from `demo`.

        Metrics of the last step are converted to floats once, at the end (no host sync per step).
        """
        metrics = self.update_from_tensors(buffer, num_updates, demo)
        return {name: float(value) for name, value in metrics.items()}

    def update_from_tensors(
        self, buffer: BatchSource, num_updates: int, demo: BatchSource | None = None
    ) -> dict[str, torch.Tensor]:
        """As `update_from`, but the last step's metrics stay tensors: a loop calling this every env
        step converts them only when it logs, so a CUDA learner never waits on the host.

        Sources made by `make_buffer`/`device_source` take this learner's update path (captured
        CUDA graphs on CUDA); any other source gets the classic path, same maths.
        """
        runner = self.runner(buffer, demo)
        if runner is not None:
            return runner.run(num_updates)
        metrics: dict[str, torch.Tensor] = {}
        for _ in range(num_updates):
            batch = sample_mixed(buffer, demo, self.config.batch_size, self.config.demo_ratio, self.device)
            metrics = self._update(batch)
        return metrics

    # ------------------------------------------------------ device-resident path
    def make_buffer(self, capacity: int, seed: int | None = None) -> ReplayBuffer | DeviceReplayBuffer:
        """The replay buffer this learner's update path samples: on the device for the captured and
        eager paths (instead of, not beside, the host buffer), else the host `ReplayBuffer`."""
        if self.update_path == "classic":
            return ReplayBuffer(capacity, self.obs_dim, self.act_dim, seed=seed)
        return DeviceReplayBuffer(capacity, self.obs_dim, self.act_dim, self.device, seed=seed)

    def device_source(
        self, source: ReplayBuffer | DeviceReplayBuffer, seed: int | None = None
    ) -> ReplayBuffer | DeviceReplayBuffer:
        """Demonstrations as this learner's update path reads them: a device copy for the captured
        and eager paths (a few thousand rows), else `source` itself."""
        if self.update_path == "classic" or self._on_device(source):
            return source
        return DeviceReplayBuffer.from_buffer(source, self.device, seed)

    def runner(self, buffer: BatchSource, demo: BatchSource | None = None) -> UpdateRunner | None:
        """The device-path runner for these sources (kept while they stay the same), or None when the
        classic path applies (classic setting, or sources not on this learner's device)."""
        demo_count = demo_share(self.config.batch_size, self.config.demo_ratio, demo)
        if self.update_path == "classic" or not self._on_device(buffer):
            return None
        if demo_count and not self._on_device(demo):
            return None
        source_demo = demo if demo_count else None
        key = UpdateRunner.key_of(buffer, source_demo, demo_count)
        if self._runner is None or self._runner.key != key:
            capture = self.update_path == "captured"
            self._runner = UpdateRunner(
                self, buffer, source_demo, demo_count, capture, self.config.cuda_graph_updates
            )
        return self._runner

    def _on_device(self, source: BatchSource | None) -> bool:
        return isinstance(source, DeviceReplayBuffer) and same_device(source.device, self.device)

    def _update(self, batch: ReplayBatch) -> dict[str, torch.Tensor]:
        """One counted update on a given batch (the classic path)."""
        metrics = self.update_body(batch)
        self.num_updates += 1
        return metrics

    def update_body(self, batch: ReplayBatch) -> dict[str, torch.Tensor]:
        """The update as device work only (no .item(), no host state): critic and target lerp, then
        policy on the updated critic, then alpha. Captured as is in a CUDA graph (critic: sac,
        policy_delay 1: the only settings the device paths take)."""
        config = self.config
        alpha = self.alpha
        critic = self.critic_step(batch, alpha)
        if self.num_updates % config.policy_delay:  # delayed actor (host counter: classic path only)
            return {**critic, "alpha": alpha}

        actor = self._actor_fn(batch.obs, self.policy, self.q, alpha)
        self.policy_optimizer.zero_grad(set_to_none=True)
        actor["policy_loss"].backward()
        self.policy_optimizer.step()

        metrics = {**critic, "policy_loss": actor["policy_loss"].detach(), "entropy": actor["entropy"]}
        if config.autotune_alpha:
            # The same policy forward feeds the temperature loss: no second pass over the batch.
            temperature_loss = losses.alpha_loss(self.log_alpha, actor["log_prob"], self.target_entropy)
            self.alpha_optimizer.zero_grad(set_to_none=True)
            temperature_loss.backward()
            self.alpha_optimizer.step()
            metrics["alpha_loss"] = temperature_loss.detach()
        metrics["alpha"] = alpha
        return metrics

    def critic_step(self, batch: ReplayBatch, alpha: torch.Tensor) -> dict[str, torch.Tensor]:
        """One critic update (and the target lerp, for critic: sac); the loss comes back detached.
        Also the critic-only pretraining step of `imitation.pretrain_critic`."""
        config = self.config
        discount, scale, normalise = (
            config.bootstrap_discount,
            config.reward_scale,
            config.reward_normalisation,
        )
        if config.critic == "crossq":
            critic = losses.crossq_critic_loss(batch, self.policy, self.q, alpha, discount, scale, normalise)
        else:
            target = self._target_fn(batch, self.policy, self.q_target, alpha, discount, scale, normalise)
            critic = self._critic_fn(batch, self.q, target)
        self.q_optimizer.zero_grad(set_to_none=True)
        critic["q_loss"].backward()
        self.q_optimizer.step()
        if config.critic == "sac":
            self.soft_update_targets()
        return {**critic, "q_loss": critic["q_loss"].detach()}

    def soft_update_targets(self) -> None:
        """target <- target + tau * (online - target), i.e. (1 - tau) * target + tau * online, as one lerp."""
        with torch.no_grad():
            torch._foreach_lerp_(list(self.q_target.parameters()), list(self.q.parameters()), self.config.tau)

    # ------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, Any]:
        """All that continuing to learn needs: weights, targets, optimisers, temperature, counter."""
        return {
            "policy": self.policy.state_dict(),
            "q": self.q.state_dict(),
            "q_target": self.q_target.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "q_optimizer": self.q_optimizer.state_dict(),
            "policy_optimizer": self.policy_optimizer.state_dict(),
            "alpha_optimizer": self.alpha_optimizer.state_dict(),
            "num_updates": self.num_updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from `state_dict()`; raises ValueError naming the missing key or mismatched tensor."""
        missing = [key for key in STATE_KEYS if key not in state]
        if missing:
            raise ValueError(f"learner state is missing {missing}")
        for key, module in (("policy", self.policy), ("q", self.q), ("q_target", self.q_target)):
            _check_shapes(key, module.state_dict(), state[key])
        log_alpha = state["log_alpha"]
        if not isinstance(log_alpha, torch.Tensor) or log_alpha.numel() != 1:
            raise ValueError(f"learner state 'log_alpha' must be a one-element tensor, got {log_alpha!r}")
        self.policy.load_state_dict(state["policy"])
        self.q.load_state_dict(state["q"])
        self.q_target.load_state_dict(state["q_target"])
        with torch.no_grad():
            self.log_alpha.copy_(log_alpha.reshape(()))
        load_optimizer_state(self.q_optimizer, state["q_optimizer"])
        load_optimizer_state(self.policy_optimizer, state["policy_optimizer"])
        load_optimizer_state(self.alpha_optimizer, state["alpha_optimizer"])
        self.num_updates = int(state["num_updates"])
        self._runner = None  # its graphs hold the replaced optimiser state tensors: capture again


def _check_shapes(name: str, expected: dict[str, torch.Tensor], found: dict[str, Any]) -> None:
    if set(expected) != set(found):
        raise ValueError(f"learner state '{name}' has tensors {sorted(found)}, expected {sorted(expected)}")
    for key, tensor in expected.items():
        other = found[key]
        if not isinstance(other, torch.Tensor) or other.shape != tensor.shape:
            shape = tuple(other.shape) if isinstance(other, torch.Tensor) else type(other).__name__
            raise ValueError(
                f"learner state '{name}.{key}' has shape {shape}, expected {tuple(tensor.shape)} "
                "(different obs_dim/act_dim or network sizes?)"
            )
