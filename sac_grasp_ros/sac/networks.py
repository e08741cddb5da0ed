"""Networks of the learner: twin soft Q critics stacked into one module, and the tanh-Gaussian policy."""

from __future__ import annotations

import math

import torch
from torch import nn

LOG_2 = math.log(2.0)
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


class BatchRenorm(nn.Module):
    """Batch renormalisation (Ioffe 2017) as CrossQ uses it in the critics (Bhatt et al. 2024).

    Training mode normalises with the batch's statistics, corrected towards the running ones by the
    factors r (clamped to [1/r_max, r_max]) and d (clamped to [-d_max, d_max]) once `warmup_steps`
    training batches have been seen (plain batch norm before, while the running statistics settle);
    evaluation mode uses the running statistics only. Unlike batch norm, the output in training mode
    then stays close to what evaluation mode gives, which is what lets a critic trained on batches
    be used in eval mode by the actor loss.
    """

    def __init__(
        self,
        num_features: int,
        momentum: float = 0.01,
        eps: float = 1e-3,
        warmup_steps: int = 100_000,
        r_max: float = 3.0,
        d_max: float = 5.0,
    ) -> None:
        super().__init__()
        self.momentum, self.eps, self.warmup_steps = momentum, eps, warmup_steps
        self.r_max, self.d_max = r_max, d_max
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        running_std = (self.running_var + self.eps).sqrt()
        if not self.training:
            return (x - self.running_mean) / running_std * self.weight + self.bias
        mean = x.mean(dim=0)
        var = x.var(dim=0, unbiased=False)
        std = (var + self.eps).sqrt()
        normalised = (x - mean) / std
        # The warm-up switch stays on the device: reading `steps` on the host would sync every forward.
        renorm = self.steps >= self.warmup_steps
        r = (std.detach() / running_std).clamp(1.0 / self.r_max, self.r_max)
        d = ((mean.detach() - self.running_mean) / running_std).clamp(-self.d_max, self.d_max)
        normalised = torch.where(renorm, normalised * r + d, normalised)
        with torch.no_grad():
            unbiased_var = var * (x.shape[0] / max(x.shape[0] - 1, 1))
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(unbiased_var, self.momentum)
            self.steps += 1
        return normalised * self.weight + self.bias


NORMS = ("none", "layer", "batch_renorm")
"""normalisation layers a hidden layer of an `mlp` can have"""


def mlp(
    in_size: int, out_size: int, hidden_size: int, hidden_layers: int, norm: str = "none"
) -> nn.Sequential:
    """Linear-ReLU stack. `norm`: "layer" puts a LayerNorm before each ReLU (RLPD-style critics);
    "batch_renorm" puts a BatchRenorm there and one on the input (CrossQ's critics)."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    layers: list[nn.Module] = [BatchRenorm(in_size)] if norm == "batch_renorm" else []
    for _ in range(hidden_layers):
        layers.append(nn.Linear(in_size, hidden_size))
        if norm == "layer":
            layers.append(nn.LayerNorm(hidden_size))
        elif norm == "batch_renorm":
            layers.append(BatchRenorm(hidden_size))
        layers.append(nn.ReLU())
        in_size = hidden_size
    return nn.Sequential(*layers, nn.Linear(in_size, out_size))


class CriticEnsemble(nn.Module):
    """`num_critics` independent MLP critics Q(s, a), evaluated together; output [num_critics, batch].

    The forward pass is chosen by device. On CUDA, where kernel launches dominate, the layers of all
    critics are stacked and each layer is one `baddbmm` (LeanRL's vectorised critics). On CPU, where
    the matmuls themselves dominate, plain per-critic `addmm` was measured faster than `bmm` (whose
    backward is slower there) at these sizes. Both paths compute the same function of the same
    parameters. The last layer of each critic is initialised uniform(-init, init) as in the original.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden_size: int,
        hidden_layers: int,
        num_critics: int = 2,
        last_layer_init: float = 3e-3,
        norm: str = "none",
    ) -> None:
        super().__init__()
        self.norm = norm
        self.critics = nn.ModuleList(
            mlp(obs_dim + act_dim, 1, hidden_size, hidden_layers, norm) for _ in range(num_critics)
        )
        if last_layer_init > 0:
            for critic in self.critics:
                nn.init.uniform_(critic[-1].weight, -last_layer_init, last_layer_init)
                nn.init.uniform_(critic[-1].bias, -last_layer_init, last_layer_init)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, actions], dim=-1)
        stacked = x.device.type == "cuda" and self.norm == "none"  # the stacked path has no norm layers
        return self.forward_stacked(x) if stacked else self.forward_per_critic(x)

    def forward_per_critic(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([critic(x) for critic in self.critics]).squeeze(-1)

    def forward_stacked(self, x: torch.Tensor) -> torch.Tensor:
        linears = [[layer for layer in critic if isinstance(layer, nn.Linear)] for critic in self.critics]
        hidden = x.unsqueeze(0).expand(len(self.critics), *x.shape)
        for index, layer in enumerate(zip(*linears, strict=True)):
            weight = torch.stack([linear.weight for linear in layer]).transpose(1, 2)
            bias = torch.stack([linear.bias for linear in layer]).unsqueeze(1)
            hidden = torch.baddbmm(bias, torch.relu(hidden) if index else hidden, weight)
        return hidden.squeeze(-1)

    def frozen(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The same Q values computed on detached weights.

        Used by the actor loss: gradients reach the actions only, and no critic weight gradient is
        computed and thrown away (Stable-Baselines3 computes and then discards it).
        """
        detached = {name: param.detach() for name, param in self.named_parameters()}
        return torch.func.functional_call(self, detached, (obs, actions))


class TanhGaussianPolicy(nn.Module):
    """MLP policy: mean and clamped log-std of a Gaussian whose samples are squashed by tanh into [-1, 1]."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden_size: int,
        hidden_layers: int,
        log_std_min: float = -20.0,
        log_std_max: float = 2.0,
        last_layer_init: float = 3e-3,
    ) -> None:
        super().__init__()
        # mean and log-std heads share the last matmul; same maths as two separate Linear heads.
        self.net = mlp(obs_dim, 2 * act_dim, hidden_size, hidden_layers)
        if last_layer_init > 0:
            nn.init.uniform_(self.net[-1].weight, -last_layer_init, last_layer_init)
            nn.init.uniform_(self.net[-1].bias, -last_layer_init, last_layer_init)
        self.act_dim = act_dim
        self.log_std_min = log_std_min
        self.log_std_max = log_std_max

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        return mean, log_std.clamp(self.log_std_min, self.log_std_max)

    def deterministic_action(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.forward(obs)[0])

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised action in (-1, 1) and its log-probability (shape [batch]).

        Noise has the full [batch, act_dim] shape: every sample and every dimension explores
        independently (the original drew one scalar for the whole batch).
        """
        mean, log_std = self.forward(obs)
        noise = torch.randn_like(mean)
        return squashed_gaussian_sample(mean, log_std, noise)


def squashed_gaussian_sample(
    mean: torch.Tensor, log_std: torch.Tensor, noise: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """a = tanh(mean + std * noise) and log pi(a|s) by change of variables.

    log pi(a) = sum_i [log N(u_i; mean_i, std_i) - log(1 - tanh(u_i)^2)], with the Jacobian term in the
    overflow-free form log(1 - tanh(u)^2) = 2 * (log 2 - u - softplus(-2u)) (Haarnoja et al. 2018,
    appendix C; the form used by TF-Agents/CleanRL), instead of log(1 - a^2 + 1e-6) which is biased
    near |a| = 1.
    """
    pre_tanh = mean + log_std.exp() * noise
    gaussian_log_prob = -0.5 * noise.pow(2) - log_std - HALF_LOG_2PI
    log_jacobian = 2.0 * (LOG_2 - pre_tanh - nn.functional.softplus(-2.0 * pre_tanh))
    return torch.tanh(pre_tanh), (gaussian_log_prob - log_jacobian).sum(dim=-1)
