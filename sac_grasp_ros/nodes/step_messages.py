"""The step message (graph.protocol's layout) as a std_msgs/Float64MultiArray, both ways.

The simulator node builds one per step (`step_layout`, `step_message`); the agent reads each back
(`read_step`), its sizes from the labelled layout dimensions, so a worker with another observation
or action size is read correctly or refused, never misread.
"""

from __future__ import annotations

import array

from std_msgs.msg import Float64MultiArray, MultiArrayDimension, MultiArrayLayout

from sac_grasp_ros.graph import protocol


def step_layout(act_dim: int, obs_dim: int) -> MultiArrayLayout:
    """The labelled dimensions every step message of a worker carries (built once per worker)."""
    layout = MultiArrayLayout()
    layout.dim = [
        MultiArrayDimension(label=label, size=size, stride=size)
        for label, size in protocol.layout_sizes(act_dim, obs_dim)
    ]
    return layout


def step_message(values: list[float], layout: MultiArrayLayout) -> Float64MultiArray:
    """`values`: protocol.encode's row."""
    msg = Float64MultiArray()
    msg.layout = layout
    msg.data = array.array("d", values)
    return msg


def read_step(msg: Float64MultiArray) -> protocol.StepMessage:
    """The step a message carries; KeyError or ValueError (with the reason) when it is none."""
    sizes = {dim.label: dim.size for dim in msg.layout.dim}
    act_dim, obs_dim = int(sizes["action"]), int(sizes["observation"])
    if act_dim < 1 or obs_dim < 1:
        raise ValueError(f"layout gives action size {act_dim}, observation size {obs_dim}")
    return protocol.decode(msg.data, act_dim, obs_dim)
