"""NR FR1 channel-bandwidth tables and ACLR parameter sets, as data with their 3GPP source.

- ``N_RB`` (from :mod:`benchbot.waveforms.nr`): maximum transmission bandwidth configuration,
  TS 38.104 / 38.101-1 Table 5.3.2-1;
  ``BW_Config = N_RB * 12 * SCS`` (rf-measurements-and-scpi.md §1.2).
- ACLR (rf-measurements-and-scpi.md §1.3): BS NR-to-NR per TS 38.104 Table 6.6.3.5.2-1 (offsets
  ±BW, ±2*BW, square filter of width BW_Config, 45 dB) and UE NR_ACLR per TS 38.101-1
  Table 6.5.2.4.1-1 (offset ±BW, measurement bandwidth BW_Config(lowest SCS) + SCS, 30 dB for PC3).

Pure data and arithmetic: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchbot.waveforms.nr import N_RB_TABLE, bw_config_hz, n_rb

N_RB = N_RB_TABLE  # TS 38.104 Table 5.3.2-1, N_RB[scs_khz][channel_bw_mhz] (one copy, in waveforms)
N_RB_SOURCE = "3GPP TS 38.104 Table 5.3.2-1 (FR1 maximum transmission bandwidth configuration)"


def lowest_scs_khz(channel_bw_mhz: int) -> int:
    """Lowest SCS for which Table 5.3.2-1 defines N_RB at this channel bandwidth."""
    for scs in sorted(N_RB):
        if int(channel_bw_mhz) in N_RB[scs]:
            return scs
    raise ValueError(f"channel bandwidth {channel_bw_mhz} MHz not in {N_RB_SOURCE}")


@dataclass(frozen=True)
class AclrParams:
    """One ACLR parameter set: where the channels are, how wide, which filter, which limit.

    ``offsets_hz`` are positive centre-to-centre offsets; each is measured on both sides
    (lower = -offset, upper = +offset). Index 0 is ACLR1, index 1 ACLR2.
    """

    name: str
    channel_bw_hz: float
    scs_hz: float
    main_mbw_hz: float
    adjacent_mbw_hz: float
    offsets_hz: tuple[float, ...]
    filter: str
    limit_db: float
    limit_source: str
    source: str


#: TS 38.104 §6.6.3.5.2, Table 6.6.3.5.2-1 (NR adjacent channel, BS type 1-C)
BS_ACLR_LIMIT_DB = 45.0
BS_ACLR_LIMIT_SOURCE = "3GPP TS 38.104 Table 6.6.3.5.2-1 (BS type 1-C, NR-to-NR)"
#: TS 38.101-1 §6.5.2.4.1, Table 6.5.2.4.1-1; PC2 value is marked [verify] in the reference
UE_ACLR_LIMITS_DB: dict[int, tuple[float, str]] = {
    3: (30.0, "3GPP TS 38.101-1 Table 6.5.2.4.1-1 (NR_ACLR, power class 3)"),
    2: (31.0, "3GPP TS 38.101-1 Table 6.5.2.4.1-1 (NR_ACLR, power class 2) [verify]"),
}


def bs_nr_aclr(channel_bw_mhz: int, scs_khz: int) -> AclrParams:
    """BS NR-to-NR ACLR set (TS 38.104 Table 6.6.3.5.2-1): ±BW and ±2·BW, square MBW = BW_Config."""
    bw = channel_bw_mhz * 1e6
    mbw = bw_config_hz(channel_bw_mhz, scs_khz)
    return AclrParams(
        name=f"BS NR ACLR {channel_bw_mhz} MHz / {scs_khz} kHz",
        channel_bw_hz=bw, scs_hz=scs_khz * 1e3, main_mbw_hz=mbw, adjacent_mbw_hz=mbw,
        offsets_hz=(bw, 2 * bw), filter="square",
        limit_db=BS_ACLR_LIMIT_DB, limit_source=BS_ACLR_LIMIT_SOURCE,
        source="3GPP TS 38.104 §6.6.3, Table 6.6.3.5.2-1; MBW = BW_Config (§6.6.3.2)",
    )


def ue_nr_aclr(channel_bw_mhz: int, scs_khz: int, power_class: int = 3) -> AclrParams:
    """UE NR_ACLR set (TS 38.101-1 Table 6.5.2.4.1-1): ±BW, MBW = BW_Config(lowest SCS) + SCS.

    The measurement bandwidth (4.515 / 9.375 / 19.095 / 48.615 / 98.31 MHz for 5 / 10 / 20 / 50 /
    100 MHz) is derived in rf-measurements-and-scpi.md §1.3 from the lowest SCS the channel
    bandwidth supports; it does not depend on the SCS actually transmitted (``scs_khz``).
    """
    if power_class not in UE_ACLR_LIMITS_DB:
        raise ValueError(f"no UE ACLR limit for power class {power_class}")
    limit, limit_source = UE_ACLR_LIMITS_DB[power_class]
    n_rb(channel_bw_mhz, scs_khz)  # validates the transmitted configuration
    low = lowest_scs_khz(channel_bw_mhz)
    mbw = bw_config_hz(channel_bw_mhz, low) + low * 1e3
    bw = channel_bw_mhz * 1e6
    return AclrParams(
        name=f"UE NR_ACLR {channel_bw_mhz} MHz / {scs_khz} kHz PC{power_class}",
        channel_bw_hz=bw, scs_hz=scs_khz * 1e3, main_mbw_hz=mbw, adjacent_mbw_hz=mbw,
        offsets_hz=(bw,), filter="square",
        limit_db=limit, limit_source=limit_source,
        source=("3GPP TS 38.101-1 §6.5.2.4.1, Table 6.5.2.4.1-1; "
                "MBW = N_RB(lowest SCS)*12*SCS + SCS"),
    )
