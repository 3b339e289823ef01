"""Constant-velocity Kalman filters for many tracks at once, in closed form.

Each track is described by four independent quantities, the box centre ``cx``, ``cy`` and
its width and height ``w``, ``h``; each one has a position and a velocity. With a
constant-velocity model and diagonal noise the 8-dimensional filter splits into four
independent 2-state filters, so the whole bank of tracks is predicted and updated with a
handful of vectorised array operations (no per-track matrices, no inversions).

Noise model, in pixels and frames (``dt`` is the time step in frames):

* process: white-noise acceleration with standard deviation ``accel_std * size`` for the
  centre (at least ``accel_std_px``) and ``size_accel_std * size`` for width and height;
* measurement: ``measure_std * size`` (at least ``measure_std_px``) for every coordinate,

where ``size`` is the track's current ``sqrt(w * h)``: a tiny object's box is uncertain
by a pixel or so, a large one by a few per cent of its size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tilewise.errors import TilewiseError

__all__ = ["MotionNoise", "TrackStates", "boxes_to_state", "state_to_boxes"]


@dataclass(frozen=True)
class MotionNoise:
    """Noise levels of the constant-velocity model (see the module docstring).

    Args:
        accel_std: centre acceleration std per frame², as a fraction of the object size.
        accel_std_px: its floor in pixels per frame².
        size_accel_std: width/height acceleration std per frame², fraction of the size.
        measure_std: measured-box std, fraction of the object size.
        measure_std_px: its floor in pixels.
        init_velocity_std: std of a new track's unknown centre velocity, in sizes per
            frame.
        init_velocity_std_px: its floor in pixels per frame.

    Example:
        >>> MotionNoise().measure_std_px
        0.5
    """

    accel_std: float = 0.05
    accel_std_px: float = 0.3
    size_accel_std: float = 0.01
    measure_std: float = 0.08
    measure_std_px: float = 0.5
    init_velocity_std: float = 0.6
    init_velocity_std_px: float = 3.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not np.isfinite(value) or value < 0:
                raise TilewiseError(f"MotionNoise.{name} must be a finite number >= 0, got {value}")
        if self.measure_std == 0 and self.measure_std_px == 0:
            raise TilewiseError("MotionNoise needs measure_std or measure_std_px > 0")


def boxes_to_state(xyxy: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy boxes as (N, 4) ``cx, cy, w, h``.

    Example:
        >>> boxes_to_state(np.array([[0.0, 0.0, 4.0, 2.0]])).tolist()
        [[2.0, 1.0, 4.0, 2.0]]
    """
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    wh = b[:, 2:] - b[:, :2]
    return np.concatenate([b[:, :2] + wh / 2, wh], axis=1)


def state_to_boxes(state: np.ndarray) -> np.ndarray:
    """(N, 4) ``cx, cy, w, h`` as (N, 4) xyxy boxes.

    Example:
        >>> state_to_boxes(np.array([[2.0, 1.0, 4.0, 2.0]])).tolist()
        [[0.0, 0.0, 4.0, 2.0]]
    """
    s = np.asarray(state, dtype=np.float64).reshape(-1, 4)
    half = np.maximum(s[:, 2:], 0.0) / 2
    return np.concatenate([s[:, :2] - half, s[:, :2] + half], axis=1)


def _sizes(pos: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(pos[:, 2] * pos[:, 3], 1e-6))


class TrackStates:
    """A bank of constant-velocity Kalman filters, one row per track.

    Attributes:
        pos: (N, 4) ``cx, cy, w, h``.
        vel: (N, 4) their velocities per frame.
        var_p: (N, 4) position variances.
        cov_pv: (N, 4) position-velocity covariances.
        var_v: (N, 4) velocity variances.

    Example:
        >>> bank = TrackStates(MotionNoise())
        >>> bank.add(np.array([[10.0, 10.0, 18.0, 18.0]]))
        >>> bank.predict(1.0)
        >>> bank.update(np.array([0]), np.array([[14.0, 10.0, 22.0, 18.0]]))
        >>> round(float(bank.vel[0, 0]), 2), round(float(bank.pos[0, 0]), 2)
        (3.87, 17.93)
    """

    def __init__(self, noise: MotionNoise) -> None:
        self.noise = noise
        self.pos = np.zeros((0, 4))
        self.vel = np.zeros((0, 4))
        self.var_p = np.zeros((0, 4))
        self.cov_pv = np.zeros((0, 4))
        self.var_v = np.zeros((0, 4))

    def __len__(self) -> int:
        return int(self.pos.shape[0])

    def _measure_var(self, pos: np.ndarray) -> np.ndarray:
        n = self.noise
        std = np.maximum(n.measure_std * _sizes(pos), n.measure_std_px)
        return np.repeat((std**2)[:, None], 4, axis=1)

    def measurement_var(self) -> np.ndarray:
        """(N,) the measurement variance of a centre coordinate of every track."""
        return self._measure_var(self.pos)[:, 0]

    def add(self, xyxy: np.ndarray) -> None:
        """Start filters at the given boxes, with zero velocity of large uncertainty."""
        pos = boxes_to_state(xyxy)
        n = self.noise
        size = _sizes(pos)
        var_v = np.zeros_like(pos)
        v_std = np.maximum(n.init_velocity_std * size, n.init_velocity_std_px)
        var_v[:, :2] = (v_std**2)[:, None]
        var_v[:, 2:] = ((n.size_accel_std * size * 4) ** 2)[:, None]
        self.pos = np.concatenate([self.pos, pos])
        self.vel = np.concatenate([self.vel, np.zeros_like(pos)])
        self.var_p = np.concatenate([self.var_p, self._measure_var(pos)])
        self.cov_pv = np.concatenate([self.cov_pv, np.zeros_like(pos)])
        self.var_v = np.concatenate([self.var_v, var_v])

    def keep(self, index: np.ndarray) -> None:
        """Keep only the rows ``index`` (in that order)."""
        for name in ("pos", "vel", "var_p", "cov_pv", "var_v"):
            setattr(self, name, getattr(self, name)[index])

    def predict(self, dt: float) -> None:
        """Advance every filter by ``dt`` frames (a constant-velocity step)."""
        if not len(self):
            return
        n = self.noise
        size = _sizes(self.pos)
        q = np.empty_like(self.pos)
        q[:, :2] = (np.maximum(n.accel_std * size, n.accel_std_px) ** 2)[:, None]
        q[:, 2:] = ((n.size_accel_std * size) ** 2)[:, None]
        self.pos = self.pos + self.vel * dt
        self.pos[:, 2:] = np.maximum(self.pos[:, 2:], 1e-3)
        # P <- F P F^T + Q with F = [[1, dt], [0, 1]] and white-noise acceleration Q
        self.var_p = self.var_p + 2 * dt * self.cov_pv + dt * dt * self.var_v + q * dt**4 / 4
        self.cov_pv = self.cov_pv + dt * self.var_v + q * dt**3 / 2
        self.var_v = self.var_v + q * dt * dt

    def update(self, rows: np.ndarray, xyxy: np.ndarray) -> None:
        """Correct the filters ``rows`` with measured boxes ``xyxy`` (one per row)."""
        if rows.size == 0:
            return
        z = boxes_to_state(xyxy)
        r = self._measure_var(z)
        p, c, v = self.var_p[rows], self.cov_pv[rows], self.var_v[rows]
        s = p + r
        k_p, k_v = p / s, c / s
        innovation = z - self.pos[rows]
        self.pos[rows] = self.pos[rows] + k_p * innovation
        self.vel[rows] = self.vel[rows] + k_v * innovation
        self.var_p[rows] = (1 - k_p) * p
        self.cov_pv[rows] = (1 - k_p) * c
        self.var_v[rows] = v - k_v * c
