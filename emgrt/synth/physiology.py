"""Forearm physiology: motor units, their action potentials at 16 wrist electrodes, and firing.

Anatomy (per hand).  Each finger has five compartments of motor units in the
forearm: superficial flexor (the press), deep flexor (curling to the lower
rows), extensor (lifting, reaching up the rows) and a radial and an ulnar part
(sideways reach); two wrist deviators (radial, ulnar) serve longer sideways
reaches of any finger.  A compartment sits at an angle around the wrist
(flexors on the palm side, extensors on the back, fingers side by side), from a
population template plus user deviations.  Each finger has 10-25 motor units;
a unit has a recruitment threshold and an amplitude that grow with its size
(size principle), a bi/tri-phasic action potential (MUAP, 3-15 ms) and a
spatial pattern over the electrode ring: a smooth circular bump at the unit's
angle (broader for deep units) with an opposite-polarity side lobe; electrodes
further from the source see the MUAP later, wider and with another phase mix.
Crosstalk spreads every source to neighbouring electrodes; a band rotation
shifts the whole angular pattern by a (fractional) number of electrodes.

Activation.  A keystroke drives its finger's compartments with key-specific
weights (:func:`key_weights`) and time courses: the reach starts before the
press, the press burst starts 30-120 ms before the key goes down (EMG precedes
force), peaks at the press, holds through the key hold and decays after the
release, where an extensor lift follows.  Keys of one finger share its units,
so they are confusable; the ``overlap`` knob pulls their weights together.
Neighbouring fingers co-activate (enslaving), both hands carry low tonic
postural activity and every compartment's drive fluctuates slowly.  Units fire
when their drive exceeds their threshold, at 6-40 Hz with gamma-distributed
intervals (a time-rescaled renewal process), and the spike trains are rendered
by adding each unit's 16-channel MUAP at its spike times.

Other movements use the same path through two seams: a voluntary drive over the compartments
(gesture primitives, :mod:`emgrt.synth.gestures`) goes through :func:`finish_drive` (enslaving,
tonic, fluctuation, as for keystrokes) and :func:`render_drive` (firing and MUAPs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emgrt.constants import CHANNELS_PER_BAND, SAMPLE_RATE_HZ
from emgrt.synth.keyboard import LEFT, SHIFT, THUMB, KeyPlace
from emgrt.synth.noise import mix, smooth_noise
from emgrt.synth.text import KeyEvent

FS = SAMPLE_RATE_HZ
N_EL = CHANNELS_PER_BAND
DRIVE_HZ = 250  # time grid of drives and rates
MUAP_LEN = 40  # samples (20 ms) per rendered MUAP
MUAP_CENTER = 16  # sample of the MUAP's centre within MUAP_LEN
REFRACTORY = MUAP_LEN // 2  # samples; makes every other spike of a unit non-overlapping

FLEX, DEEP, EXT, RAD, ULN = range(5)  # compartment kinds of one finger
N_KIND = 5
KINDS = ("flexor", "deep flexor", "extensor", "radial", "ulnar")
N_FINGERS = 5
WRIST_RAD, WRIST_ULN = N_FINGERS * N_KIND, N_FINGERS * N_KIND + 1  # wrist deviators, shared by all fingers
N_COMPARTMENTS = N_FINGERS * N_KIND + 2
UNIT_AMPLITUDE = 70.0  # uV, peak MUAP of the smallest superficial unit at its nearest electrode

# Population template, right hand, in electrode positions (0..16 around the ring).
_FLEX_ANGLE = np.array([1.0, 2.4, 3.6, 4.8, 6.0])  # thumb..pinky, palm side
_EXT_ANGLE = np.array([15.0, 13.6, 12.4, 11.2, 10.0])  # back of the forearm
_WRIST_ANGLE = np.array([15.6, 8.0])  # radial (extensor carpi radialis), ulnar (carpi ulnaris) deviators
_DEEP = 0.5  # the deep flexor lies this far to the ulnar side of the superficial one
_LATERAL = 0.8  # radial/ulnar parts sit this far either side of the flexor
_KIND_SHARE = np.array([0.3, 0.2, 0.25, 0.125, 0.125])  # a finger's units per compartment kind
_DEPTH = np.array([[0.0, 0.7], [0.5, 1.0], [0.0, 0.7], [0.2, 0.9], [0.2, 0.9]])  # depth range per kind
# Enslaving between fingers (thumb, index, middle, ring, pinky), before user scaling.
_ENSLAVE = np.array(
    [
        [0.00, 0.05, 0.03, 0.02, 0.02],
        [0.05, 0.00, 0.25, 0.08, 0.05],
        [0.03, 0.25, 0.00, 0.32, 0.10],
        [0.02, 0.08, 0.32, 0.00, 0.35],
        [0.02, 0.05, 0.10, 0.35, 0.00],
    ]
)


@dataclass(frozen=True)
class HandAnatomy:
    """One forearm's motor units (U of them) and how they reach the 16 electrodes."""

    comp_angle: np.ndarray  # (N_COMPARTMENTS,) angles, electrode units
    unit_comp: np.ndarray  # (U,) compartment: finger * N_KIND + kind, or WRIST_RAD / WRIST_ULN
    membership: np.ndarray  # (N_COMPARTMENTS, U) compartment drive -> unit drive
    angle: np.ndarray  # (U,) electrode units
    kappa: np.ndarray  # (U,) spatial concentration (von Mises)
    amp: np.ndarray  # (U,) uV at the nearest electrode
    sigma_ms: np.ndarray  # (U,) MUAP width
    shape: np.ndarray  # (U,) biphasic/triphasic mix angle, rad
    lobe: np.ndarray  # (U,) opposite side-lobe strength
    lobe_offset: np.ndarray  # (U,) electrodes
    threshold: np.ndarray  # (U,) recruitment threshold (drive units)
    rate_min: np.ndarray  # (U,) Hz
    rate_max: np.ndarray  # (U,) Hz
    gamma_k: np.ndarray  # (U,) ISI regularity (gamma shape)
    enslave: np.ndarray  # (5, 5)
    rotation: float  # band rotation, electrodes
    crosstalk: np.ndarray  # (16, 16) electrode mixing

    @property
    def n_units(self) -> int:
        return len(self.angle)


@dataclass(frozen=True)
class Activation:
    """How one user drives the muscles."""

    lead_s: float  # mean EMG onset before the key press
    force: float  # keystroke drive level
    tonic: float  # postural drive at rest


def _mirror(angle: np.ndarray) -> np.ndarray:
    return (N_EL - angle) % N_EL


def sample_hand(rng: np.random.Generator, hand: int, variability: float) -> HandAnatomy:
    """One forearm: template compartment angles plus user deviations scaled by ``variability``."""
    v = variability
    flex = _FLEX_ANGLE + rng.normal(0, 0.35 * v, N_FINGERS)
    ext = _EXT_ANGLE + rng.normal(0, 0.35 * v, N_FINGERS)
    fingers = np.stack([flex, flex + _DEEP, ext, flex - _LATERAL, flex + _LATERAL], axis=1)
    comp = np.concatenate([fingers.ravel(), _WRIST_ANGLE + rng.normal(0, 0.35 * v, 2)])
    comp = comp + rng.normal(0, 0.12 * v, comp.shape)
    if hand == LEFT:
        comp = _mirror(comp)
    counts = np.clip(np.round(rng.normal(18, 3 * v, N_FINGERS)), 10, 25).astype(int)
    counts[THUMB] = max(8, counts[THUMB] - 4)
    unit_comp = np.concatenate(
        [f * N_KIND + rng.choice(N_KIND, size=n, p=_KIND_SHARE) for f, n in enumerate(counts)]
        + [np.full(int(rng.integers(10, 16)), c) for c in (WRIST_RAD, WRIST_ULN)]
    )
    u = len(unit_comp)
    wrist = unit_comp >= N_FINGERS * N_KIND
    membership = np.zeros((N_COMPARTMENTS, u))
    membership[unit_comp, np.arange(u)] = 1.0
    fu = np.flatnonzero(~wrist)
    for k in range(N_KIND):  # finger units also get a little drive from the finger's other compartments
        rows = (unit_comp[fu] // N_KIND) * N_KIND + k
        membership[rows, fu] += np.where(rows == unit_comp[fu], 0.0, rng.uniform(0, 0.15, fu.size))
    size = np.where(wrist, rng.uniform(0.3, 1.0, u), rng.uniform(0, 1, u))  # wrist muscles are big
    lo, hi = np.where(wrist[:, None], [0.2, 0.8], _DEPTH[unit_comp % N_KIND]).T
    depth = rng.uniform(lo, hi)
    width = np.exp(rng.normal(0, 0.12 * v))
    gain = np.exp(rng.normal(0, 0.2 * v))
    c1 = rng.uniform(0.08, 0.18)
    ring = np.zeros(N_EL)
    ring[[0, 1, 2, -2, -1]] = [1.0, c1, c1 / 4, c1 / 4, c1]
    crosstalk = np.stack([np.roll(ring, i) for i in range(N_EL)])
    return HandAnatomy(
        comp_angle=comp,
        unit_comp=unit_comp,
        membership=membership,
        angle=comp[unit_comp] + rng.normal(0, 0.45, u),
        kappa=7.0 * (1 - 0.55 * depth) * np.exp(rng.normal(0, 0.15, u)),
        amp=UNIT_AMPLITUDE * gain * (0.3 + 2.7 * size**1.5) * (1 - 0.6 * depth),
        sigma_ms=np.clip((0.6 + 0.8 * size) * (1 + 0.5 * depth) * width, 0.5, 2.5),
        shape=rng.uniform(0.0, np.pi / 2, u),
        lobe=rng.uniform(0.0, 0.35, u),
        lobe_offset=rng.choice([-1.0, 1.0], u) * rng.uniform(1.5, 3.0, u),
        threshold=0.04 + 0.8 * size**1.6,
        rate_min=rng.uniform(6.0, 9.0, u),
        rate_max=(22.0 + 18.0 * (1 - size)) * rng.uniform(0.85, 1.05, u),
        gamma_k=rng.uniform(6.0, 14.0, u),
        enslave=_ENSLAVE * np.exp(rng.normal(0, 0.25 * v, (N_FINGERS, N_FINGERS))),
        rotation=float(rng.normal(0, 0.9 * v)),
        crosstalk=crosstalk,
    )


def sample_activation(rng: np.random.Generator, variability: float) -> Activation:
    return Activation(
        lead_s=float(rng.uniform(0.03, 0.12)),
        force=float(0.8 * np.exp(rng.normal(0, 0.15 * variability))),
        tonic=float(rng.uniform(0.04, 0.1)),
    )


# -- action potentials ---------------------------------------------------------------------------
def muap_bank(hand: HandAnatomy, rotation: float) -> np.ndarray:
    """Every unit's MUAP at every electrode, (U, MUAP_LEN, 16) float32, band rotated by ``rotation``."""
    el = 2 * np.pi * (np.arange(N_EL) + rotation) / N_EL
    src = 2 * np.pi * hand.angle / N_EL
    delta = np.angle(np.exp(1j * (el[None, :] - src[:, None])))  # (U, 16) wrapped, rad
    dist = np.abs(delta) * N_EL / (2 * np.pi)  # electrodes
    k = hand.kappa[:, None]
    lobe_at = delta - 2 * np.pi * hand.lobe_offset[:, None] / N_EL
    bump = np.exp(k * (np.cos(delta) - 1)) - hand.lobe[:, None] * np.exp(k * (np.cos(lobe_at) - 1))
    spatial = hand.amp[:, None] * bump  # (U, 16)
    # Further electrodes: later, wider, phase mix shifted to one side.
    t_ms = (np.arange(MUAP_LEN) - MUAP_CENTER) * 1000.0 / FS
    sigma = hand.sigma_ms[:, None] * (1 + 0.12 * dist)  # (U, 16)
    delay = 0.25 * dist
    phase = hand.shape[:, None] + 0.25 * np.sign(delta) * np.minimum(dist, 3.0)  # biphasic <-> triphasic
    x = (t_ms[None, :, None] - delay[:, None, :]) / sigma[:, None, :]  # (U, L, 16)
    g = np.exp(-0.5 * x * x)
    wave = np.cos(phase)[:, None, :] * x * g * 1.6487 + np.sin(phase)[:, None, :] * (1 - x * x) * g
    wave /= np.abs(wave).max(axis=1, keepdims=True)
    bank = wave * spatial[:, None, :]
    u = bank.shape[0]
    return mix(bank.reshape(u * MUAP_LEN, N_EL), hand.crosstalk.T).reshape(u, MUAP_LEN, N_EL)


# -- drive ---------------------------------------------------------------------------------------
def _raw_weights(dx: float, dy: float) -> np.ndarray:
    down, up = max(dy, 0.0), max(-dy, 0.0)  # rows below / above home
    return np.array(
        [
            1.0 - 0.25 * down + 0.1 * up,  # superficial flexor: the press
            0.35 + 0.8 * down,  # deep flexor: curling down to the lower rows
            0.2 + 0.6 * up,  # extensor: reaching up the rows
            0.15 + 1.0 * max(-dx, 0.0),  # radial part: reaching towards the thumb
            0.15 + 1.0 * max(dx, 0.0),  # ulnar part: reaching towards the little finger
            1.0 * max(-dx - 0.3, 0.0),  # wrist radial deviators: longer sideways reaches
            1.0 * max(dx - 0.3, 0.0),  # wrist ulnar deviators
        ]
    )


def key_weights(place: KeyPlace, overlap: float) -> np.ndarray:
    """Drive of the finger's KINDS then the two wrist deviators for one key, (N_KIND + 2,).

    ``overlap`` in [0, 1] pulls every key towards the finger's home-key pattern.
    """
    home = _raw_weights(0.0, 0.0)
    return home + (1.0 - overlap) * (_raw_weights(place.dx, place.dy) - home)


def compartment_drive(
    events: Sequence[KeyEvent],
    hand: HandAnatomy,
    act: Activation,
    n_grid: int,
    rng: np.random.Generator,
    *,
    overlap: float,
    onset_jitter_s: float,
) -> np.ndarray:
    """Drive of every compartment on the DRIVE_HZ grid, (n_grid, N_COMPARTMENTS), for one hand's events."""
    dt = 1.0 / DRIVE_HZ
    drive = np.zeros((n_grid, N_COMPARTMENTS))
    for ev in events:
        p = ev.place
        w = key_weights(p, overlap) * act.force * np.exp(rng.normal(0, 0.2))
        lead = float(np.clip(act.lead_s + rng.normal(0, onset_jitter_s), 0.015, 0.2))
        onset, peak = ev.start - lead, ev.start + 0.015
        i0 = max(0, int((onset - 0.2) * DRIVE_HZ))
        i1 = min(n_grid, int((ev.end + 0.25) * DRIVE_HZ) + 1)
        if i1 <= i0:
            continue
        t = np.arange(i0, i1) * dt
        sustain = 0.5 if ev.key == SHIFT else 0.3
        rise = 0.5 * (1 - np.cos(np.pi * np.clip((t - onset) / (peak - onset), 0, 1)))
        hold = sustain + (1 - sustain) * np.exp(-np.maximum(t - peak, 0) / 0.05)
        at_release = sustain + (1 - sustain) * np.exp(-max(ev.end - peak, 0) / 0.05)
        press = np.where(t < peak, rise, np.where(t <= ev.end, hold, at_release * np.exp(-(t - ev.end) / 0.04)))
        reach = np.exp(-0.5 * ((t - (onset - 0.01)) / 0.035) ** 2)
        lift = np.exp(-0.5 * ((t - (ev.end + 0.03)) / 0.03) ** 2)
        side = 0.5 * (reach + press)  # sideways position is reached early and held through the press
        seg = drive[i0:i1]
        base = p.finger * N_KIND
        seg[:, base + FLEX] += w[FLEX] * press
        seg[:, base + DEEP] += w[DEEP] * press
        seg[:, base + EXT] += w[EXT] * (0.6 * reach + 0.4 * press) + 0.3 * act.force * lift
        seg[:, base + RAD] += w[RAD] * side
        seg[:, base + ULN] += w[ULN] * side
        seg[:, WRIST_RAD] += w[N_KIND] * side
        seg[:, WRIST_ULN] += w[N_KIND + 1] * side
    return finish_drive(drive, hand, act, rng)


def finish_drive(drive: np.ndarray, hand: HandAnatomy, act: Activation, rng: np.random.Generator) -> np.ndarray:
    """Voluntary compartment drive (n_grid, N_COMPARTMENTS) -> the drive the motor units get.

    Adds what every movement shares, whatever asked for it (keystrokes or gesture primitives):
    enslaving of the other fingers, tonic postural activity and a slow fluctuation of every
    compartment.  Modifies ``drive`` in place (the fluctuation returns a new array).
    """
    n_grid = drive.shape[0]
    # Enslaving: flexor and extensor drive leaks to the other fingers.
    fingers = drive[:, : N_FINGERS * N_KIND].reshape(n_grid, N_FINGERS, N_KIND)
    for k in (FLEX, DEEP, EXT):
        fingers[:, :, k] += mix(fingers[:, :, k], hand.enslave)
    fingers[:, :, EXT] += act.tonic  # holding the hands up over the keys
    fingers[:, :, FLEX] += 0.3 * act.tonic
    drive[:, WRIST_RAD:] += act.tonic
    return drive * (1 + 0.1 * smooth_noise(rng, n_grid, N_COMPARTMENTS, 4.0, DRIVE_HZ))


# -- firing and rendering ------------------------------------------------------------------------
def spike_trains(drive: np.ndarray, hand: HandAnatomy, rng: np.random.Generator) -> list[np.ndarray]:
    """Spike times (s) of every unit given compartment drive (n_grid, N_COMPARTMENTS)."""
    n_grid = drive.shape[0]
    drive_t = np.ascontiguousarray(drive.T)  # (compartments, n_grid)
    t_grid = np.arange(n_grid) / DRIVE_HZ
    out = [np.empty(0)] * hand.n_units
    for u in range(hand.n_units):
        comps = np.flatnonzero(hand.membership[:, u])
        unit_drive = hand.membership[comps[0], u] * drive_t[comps[0]]
        for c in comps[1:]:
            unit_drive += hand.membership[c, u] * drive_t[c]
        if unit_drive.max() <= hand.threshold[u]:
            continue
        excess = unit_drive - hand.threshold[u]
        on = excess > 0
        rate = np.zeros(n_grid, dtype=np.float64)
        rate[on] = hand.rate_min[u] + (hand.rate_max[u] - hand.rate_min[u]) * -np.expm1(excess[on] / -0.25)
        lam = np.cumsum(rate) / DRIVE_HZ  # expected spikes so far
        total = lam[-1]
        if total < 0.5:
            continue
        k = hand.gamma_k[u]
        steps = rng.gamma(k, 1.0 / k, int(total * 1.3) + 10)
        steps[0] *= rng.uniform()  # random phase at the start
        thr = np.cumsum(steps)
        out[u] = np.interp(thr[thr < total], lam, t_grid)
    return out


def render_units(spikes: list[np.ndarray], bank: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Sum of every unit's MUAP at its spike times, (n_samples, 16) float32."""
    out = np.zeros((n_samples, N_EL), dtype=np.float32)
    offsets = np.arange(MUAP_LEN)
    for u, times in enumerate(spikes):
        if times.size == 0:
            continue
        idx = np.round(times * FS).astype(np.int64) - MUAP_CENTER
        idx = idx[(idx >= 0) & (idx + MUAP_LEN <= n_samples)]
        if idx.size > 1:  # refractory period; keeps every other spike's MUAP disjoint
            idx = idx[np.concatenate(([True], np.diff(idx) >= REFRACTORY))]
        amp = np.exp(rng.normal(0, 0.05, idx.size)).astype(np.float32)
        for parity in (0, 1):
            sel = idx[parity::2]
            if sel.size:
                out[sel[:, None] + offsets] += amp[parity::2, None, None] * bank[u][None]
    return out


def render_hand(
    events: Sequence[KeyEvent],
    hand: HandAnatomy,
    act: Activation,
    n_samples: int,
    rng: np.random.Generator,
    *,
    rotation: float,
    overlap: float,
    onset_jitter_s: float,
) -> np.ndarray:
    """Noise-free EMG of one band, (n_samples, 16) float32, for the events made by that hand."""
    drive = compartment_drive(events, hand, act, drive_grid(n_samples), rng, overlap=overlap, onset_jitter_s=onset_jitter_s)
    return render_drive(drive, hand, n_samples, rng, rotation=rotation)


def drive_grid(n_samples: int) -> int:
    """Points of the DRIVE_HZ grid that cover ``n_samples`` EMG samples."""
    return int(np.ceil(n_samples / FS * DRIVE_HZ)) + 1


def render_drive(
    drive: np.ndarray, hand: HandAnatomy, n_samples: int, rng: np.random.Generator, *, rotation: float
) -> np.ndarray:
    """Noise-free EMG of one band, (n_samples, 16) float32, from finished compartment drive.

    The seam for any movement model: build a (drive_grid(n_samples), N_COMPARTMENTS) voluntary
    drive, pass it through :func:`finish_drive`, then render it here (firing, then MUAPs).
    """
    spikes = spike_trains(drive, hand, rng)
    return render_units(spikes, muap_bank(hand, rotation), n_samples, rng)
