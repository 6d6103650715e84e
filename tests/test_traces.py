"""Tests of hetserve_env.traces: loaders on the bundled data, malformed inputs, gaps, resampling, splits,
build_demand, synthetic generators and the DemandSeries contract."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hetserve_env.traces import (
    DemandSeries,
    TraceError,
    azure_windows,
    build_demand,
    bursty,
    diurnal,
    load_azure_trace,
    load_servegen_rates,
    load_servegen_tokens,
    regime_shift,
    servegen_rate_shape,
    split_days,
    with_volatility,
)
from hetserve_env.traces.bundle import AZURE_TRACES, DATA_DIR, MANIFEST, sha256

CODE = DATA_DIR / AZURE_TRACES["code"]
CONV = DATA_DIR / AZURE_TRACES["conv"]

EXAMPLE = [
    {
        "name": "chat",
        "slo_s": 5.0,  # scenario keys outside `demand` are not ours and are ignored
        "demand": {
            "rate": {"source": "servegen", "model": "m-small", "mean_rps": 3.0},
            "tokens": {"source": "azure", "trace": "conv"},
        },
    },
    {
        "name": "code",
        "demand": {
            "rate": {"source": "servegen", "model": "m-mid", "mean_rps": 1.2},
            "tokens": {"source": "azure", "trace": "code"},
        },
    },
    {
        "name": "summarization",
        "demand": {
            "rate": {"source": "servegen", "model": "m-large", "mean_rps": 0.8},
            "tokens": {"source": "servegen", "model": "m-large"},
        },
    },
    {
        "name": "math",
        "demand": {
            "rate": {"source": "diurnal", "mean_rps": 0.5, "peak_to_trough": 2.0, "peak_hour": 14},
            "tokens": {"input": 300, "output": 400},
        },
    },
]


def _write(path, text: str):
    path.write_bytes(text.encode())
    return path


# ------------------------------------------------------------------------------------------ bundle
def test_bundle_is_byte_identical_to_manifest():
    for name, (_src, nbytes, digest) in MANIFEST.items():
        p = DATA_DIR / name
        assert p.stat().st_size == nbytes, name
        assert sha256(p) == digest, name
    assert (DATA_DIR / "ATTRIBUTION.md").is_file()
    assert (DATA_DIR.parents[1] / "NOTICE").is_file()
    # upstream format kept: CRLF and no final newline
    raw = CODE.read_bytes()
    assert raw.startswith(b"TIMESTAMP,ContextTokens,GeneratedTokens\r\n") and not raw.endswith(b"\n")


# ------------------------------------------------------------------------------------------ Azure
@pytest.mark.parametrize(
    "path, rows, mean_in, mean_out, rps",
    [(CODE, 8819, 2047.8, 27.9, 2.57), (CONV, 19366, 1154.7, 211.1, 5.53)],
)
def test_load_bundled_azure(path, rows, mean_in, mean_out, rps):
    df = load_azure_trace(path)
    assert list(df.columns) == ["t_s", "input_tokens", "output_tokens"]
    assert len(df) == rows
    assert df["t_s"].iloc[0] == 0.0 and df["t_s"].is_monotonic_increasing
    assert df["input_tokens"].mean() == pytest.approx(mean_in, abs=0.1)
    assert df["output_tokens"].mean() == pytest.approx(mean_out, abs=0.1)
    assert rows / df["t_s"].iloc[-1] == pytest.approx(rps, abs=0.01)
    assert 3400 < df.attrs["span_s"] < 3510


def test_azure_windows_on_bundled_conv():
    df = load_azure_trace(CONV)
    w = azure_windows(df, 600)
    assert list(w.columns) == ["t_start_s", "rate_rps", "input_mean", "output_mean", "cv_interarrival", "n_requests"]
    assert len(w) == 5  # 58.4 min: 5 complete 10-min windows, the trailing partial one dropped
    assert np.allclose(w["rate_rps"], w["n_requests"] / 600)
    assert w["cv_interarrival"].between(0.8, 1.4).all()  # conversation arrivals are roughly Poisson
    assert len(azure_windows(df, 600, partial=True)) == 6
    with pytest.raises(TraceError, match="shorter than one window"):
        azure_windows(df, 3600)


def test_azure_2024_format_numeric_and_unsorted(tmp_path):
    p = _write(
        tmp_path / "week.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2024-05-10 00:00:02.500000+00:00,10,1\n"
        "2024-05-10 00:00:00.017000+00:00,20,2\n"
        "2024-05-10 00:00:01.017000+00:00,30,3\n",
    )
    df = load_azure_trace(p)
    assert df["t_s"].tolist() == pytest.approx([0.0, 1.0, 2.483])
    assert df["input_tokens"].tolist() == [20, 30, 10]
    q = _write(tmp_path / "secs.csv", "Timestamp,Request tokens,Response tokens\n5,1,2\n7.5,3,4\n")
    cols = {"TIMESTAMP": "Timestamp", "ContextTokens": "Request tokens", "GeneratedTokens": "Response tokens"}
    df2 = load_azure_trace(q, columns=cols)
    assert df2["t_s"].tolist() == [0.0, 2.5] and df2["output_tokens"].tolist() == [2, 4]


def test_azure_windows_keeps_a_nearly_complete_last_window(tmp_path):
    # like the 2024 one-week traces: the last request arrives a moment before the span's end
    rows = "".join(f"2024-05-10 00:{m:02d}:{s:02d}.000000+00:00,1,1\n" for m in range(20) for s in (0, 30))
    p = _write(tmp_path / "t.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n" + rows)
    df = load_azure_trace(p)
    assert df.attrs["span_s"] == 1170.0
    assert len(azure_windows(df, 600)) == 1  # second window only 95 % covered: dropped
    assert len(azure_windows(df, 586)) == 2  # second window 584 / 586 = 99.7 % covered: kept
    with pytest.raises(TraceError, match=r"line 3 \(data row 1\).*not a number of seconds"):
        load_azure_trace(_write(tmp_path / "s.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n1.5,1,1\nlater,1,1\n"))


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("", r"empty file"),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\r\n", r"no data rows"),
        ("TIMESTAMP,ContextTokens\r\n2023-11-16 18:17:03.9799600,5\r\n", r"missing column.*GeneratedTokens"),
        (
            "TIMESTAMP,ContextTokens,GeneratedTokens\r\n2023-11-16 18:17:03.9799600,5,6\r\nyesterday,5,6",
            r"line 3 \(data row 1\), column 'TIMESTAMP': cannot parse timestamp 'yesterday'",
        ),
        (
            "TIMESTAMP,ContextTokens,GeneratedTokens\r\n2023-11-16 18:17:03.9799600,5,-6",
            r"line 2 \(data row 0\), column 'GeneratedTokens': negative token count '-6'",
        ),
        (
            "TIMESTAMP,ContextTokens,GeneratedTokens\r\n2023-11-16 18:17:03.9799600,five,6",
            r"column 'ContextTokens': token count 'five' is not a number",
        ),
    ],
)
def test_malformed_azure(tmp_path, text, pattern):
    p = _write(tmp_path / "bad_trace.csv", text)
    with pytest.raises(TraceError, match=pattern) as info:
        load_azure_trace(p)
    assert "bad_trace.csv" in str(info.value)
    assert isinstance(info.value, ValueError)


# ------------------------------------------------------------------------------------------ ServeGen
def test_servegen_tables_match_source_headlines():
    r = load_servegen_rates()
    assert len(r) == 6336
    assert r["gap"].dtype == bool
    means = r.groupby("model")["rate_rps"].mean()
    assert means["m-large"] == pytest.approx(195.8, abs=0.1)
    assert means["m-mid"] == pytest.approx(1790, abs=1)
    assert means["m-small"] == pytest.approx(1174, abs=1)
    assert r.groupby("model").size()[["m-large", "m-mid", "m-small"]].tolist() == [2016] * 3
    t = load_servegen_tokens()
    assert len(t) == 176
    for model, (inp, out) in {"m-large": (914, 155), "m-mid": (307, 51), "m-small": (120, 15)}.items():
        s = t[t["model"] == model]
        w = s["requests_with_distribution"]
        assert np.average(s["input_mean"], weights=w) == pytest.approx(inp, abs=1)
        assert np.average(s["output_mean"], weights=w) == pytest.approx(out, abs=1)


def test_malformed_servegen(tmp_path):
    good = load_servegen_rates()
    header = ",".join(good.columns)
    row = "language,m-small,0,0,0,0,600,1.0,3,False"
    with pytest.raises(TraceError, match=r"line 2 \(data row 0\), column 'model': unknown ServeGen model 'm-huge'"):
        load_servegen_rates(_write(tmp_path / "a.csv", f"{header}\n{row.replace('m-small', 'm-huge')}\n"))
    with pytest.raises(TraceError, match=r"line 3 \(data row 1\), column 'rate_rps': 'fast' is not a number"):
        load_servegen_rates(_write(tmp_path / "b.csv", f"{header}\n{row}\n{row.replace('600,1.0', '600,fast')}\n"))
    with pytest.raises(TraceError, match=r"missing column\(s\) \['gap'\]"):
        load_servegen_rates(_write(tmp_path / "c.csv", header.replace(",gap", "") + "\n" + row[:-6] + "\n"))
    with pytest.raises(TraceError, match=r"column 'gap': expected True or False"):
        load_servegen_rates(_write(tmp_path / "d.csv", f"{header}\n{row.replace('False', 'maybe')}\n"))
    with pytest.raises(TraceError, match=r"windows must run 0, 600"):
        load_servegen_rates(_write(tmp_path / "e.csv", f"{header}\n{row}\n{row}\n"))
    with pytest.raises(TraceError, match="empty file"):
        load_servegen_tokens(_write(tmp_path / "f.csv", ""))


def test_gap_filling_is_flagged_and_interpolated():
    r = load_servegen_rates()
    mid = r[r["model"] == "m-mid"]
    raw = mid["rate_rps"].to_numpy()
    gap = mid["gap"].to_numpy()
    rate, filled = servegen_rate_shape("m-mid", 600)
    assert filled.dtype == bool and np.array_equal(filled, gap) and filled.sum() == 102
    assert np.array_equal(rate[~filled], raw[~filled])  # real windows untouched
    assert (rate[filled] > 0.02 * np.median(raw)).all()  # gaps no longer look like outages
    # linear interpolation: every filled value lies between the nearest real neighbours
    idx = np.flatnonzero(filled)
    real = np.flatnonzero(~filled)
    for k in idx[:20]:
        lo, hi = real[real < k].max(), real[real > k].min()
        assert min(raw[lo], raw[hi]) - 1e-9 <= rate[k] <= max(raw[lo], raw[hi]) + 1e-9
    assert servegen_rate_shape("m-large")[1].sum() == 0
    assert servegen_rate_shape("m-small")[1].sum() == 37


@pytest.mark.parametrize("window_s, n", [(300, 4032), (200, 6048), (1200, 1008), (3600, 336)])
def test_resampling_preserves_mean_rate(window_s, n):
    base, base_filled = servegen_rate_shape("m-mid", 600)
    rate, filled = servegen_rate_shape("m-mid", window_s)
    assert rate.shape == filled.shape == (n,)
    assert rate.mean() == pytest.approx(base.mean(), rel=1e-12)
    assert filled.sum() >= base_filled.sum() * min(1, 600 / window_s) - 1e-9
    if window_s > 600:  # aggregation: sum of requests per window
        k = window_s // 600
        assert np.allclose(rate, base.reshape(-1, k).mean(axis=1))
    else:  # interpolation: no 10-minute steps, still within the neighbouring values
        assert rate.min() >= base.min() - 1e-9 and rate.max() <= base.max() + 1e-9


@pytest.mark.parametrize("window_s", [450, 900, 0, -600])
def test_resampling_rejects_unaligned_windows(window_s):
    with pytest.raises(TraceError, match="window_s"):
        servegen_rate_shape("m-small", window_s)


# ------------------------------------------------------------------------------------------ splits
def test_split_days():
    assert split_days(range(14)) == {
        "train": tuple(range(10)),
        "validation": (10, 11),
        "test": (12, 13),
    }
    assert split_days([5, 3, 4, 3]) == {"train": (3,), "validation": (4,), "test": (5,)}
    assert split_days(range(7), validation=1, test=3) == {"train": (0, 1, 2), "validation": (3,), "test": (4, 5, 6)}
    with pytest.raises(TraceError, match="at least 3 distinct days"):
        split_days([0, 1])


# ------------------------------------------------------------------------------------------ build_demand
def test_build_demand_example_600_and_300():
    d = build_demand(EXAMPLE, 600)
    assert d.rate.shape == (2016, 4) and d.type_names == ("chat", "code", "summarization", "math")
    assert d.windows_per_day == 144 and d.days.tolist() == list(range(14))
    assert np.allclose(d.rate.mean(axis=0), [3.0, 1.2, 0.8, 0.5])
    assert {k: len(v) for k, v in d.splits.items()} == {"train": 10, "validation": 2, "test": 2}
    assert d.filled[:, 0].sum() == 37 and d.filled[:, 1].sum() == 102 and not d.filled[:, 2:].any()
    assert np.allclose(d.input_tokens[:, 0], 1154.697, atol=1e-3)  # Azure conv trace-wide means
    assert np.allclose(d.output_tokens[:, 1], 27.8825, atol=1e-4)  # Azure code
    assert np.allclose(d.input_tokens[:, 3], 300) and np.allclose(d.output_tokens[:, 3], 400)
    # ServeGen tokens: constant within each 6-h block (36 windows), changing between blocks
    blocks = d.input_tokens[:, 2].reshape(56, 36)
    assert np.all(blocks == blocks[:, :1]) and len(np.unique(blocks[:, 0])) > 10
    assert np.allclose(d.cv[:, 1], 2.0) and np.allclose(d.cv[:, 3], 1.0)
    d300 = build_demand(EXAMPLE, 300)
    assert d300.rate.shape == (4032, 4)
    assert np.allclose(d300.rate.mean(axis=0), [3.0, 1.2, 0.8, 0.5])
    test = d.split("test")
    assert test.n_windows == 288 and test.days.tolist() == [12, 13]
    s = d.summary()
    assert set(s["split"]) == {"train", "validation", "test", "all"} and len(s) == 16


def test_build_demand_deterministic_and_seeded():
    spec = copy.deepcopy(EXAMPLE)
    spec[0]["demand"]["rate"]["volatility"] = 0.03
    spec.append(
        {
            "name": "burst",
            "demand": {"rate": {"source": "bursty", "mean_rps": 1.0}, "tokens": {"input": 1, "output": 1}},
        }
    )
    a, b, c = build_demand(spec, 600, seed=1), build_demand(spec, 600, seed=1), build_demand(spec, 600, seed=2)
    assert np.array_equal(a.rate, b.rate)
    assert not np.array_equal(a.rate[:, 0], c.rate[:, 0]) and not np.array_equal(a.rate[:, 4], c.rate[:, 4])
    assert np.array_equal(a.rate[:, 1:4], c.rate[:, 1:4])  # the others have no randomness
    assert a.rate[:, 0].mean() == pytest.approx(3.0, rel=0.01)


def test_build_demand_lengths_and_tiling(tmp_path):
    synth = [{"name": "x", "demand": {"rate": {"source": "constant", "rps": 2.0}, "tokens": {"input": 5, "output": 6}}}]
    assert build_demand(synth, 600).n_windows == 14 * 144  # default 14 days
    assert build_demand(synth, 3600, n_days=3).rate.shape == (72, 1)
    assert build_demand(EXAMPLE, 600, n_days=7).rate.shape == (1008, 4)  # real series cut to 7 days
    azure_rate = {"source": "azure_csv", "path": str(CODE), "mean_rps": 2.0}
    spec = copy.deepcopy(EXAMPLE) + [
        {"name": "other", "demand": {"rate": dict(azure_rate), "tokens": {"source": "azure_csv", "path": str(CODE)}}}
    ]
    with pytest.raises(TraceError, match=r"query_types\[4\]\.demand\.rate: type 'other'.*5 windows.*tile: true"):
        build_demand(spec, 600)
    spec[4]["demand"]["rate"]["tile"] = True
    d = build_demand(spec, 600)
    assert d.rate.shape == (2016, 5) and d.rate[:, 4].mean() == pytest.approx(2.0)
    assert np.array_equal(d.rate[:5, 4], d.rate[5:10, 4])  # cyclic repeat of the 5 windows
    assert d.cv[:, 4].min() > 1  # measured burstiness passed through
    # an Azure-only series has the trace's own length (under one day, so no default splits)
    only = build_demand([{"name": "other", "demand": {"rate": azure_rate, "tokens": {"input": 1, "output": 1}}}], 600)
    assert only.n_windows == 5 and only.splits == {}
    with pytest.raises(TraceError, match="pass splits explicitly"):
        only.split("test")
    # relative paths resolve against base_dir
    rel = [
        {
            "name": "r",
            "demand": {"rate": {"source": "azure_csv", "path": CODE.name}, "tokens": {"input": 1, "output": 1}},
        }
    ]
    assert build_demand(rel, 300, base_dir=CODE.parent).n_windows == 11
    explicit = build_demand(synth, 600, n_days=4, splits={"train": [0, 1], "validation": [2], "test": [3]})
    assert explicit.split("train").n_windows == 288


def _bad(path_tail, value):
    spec = copy.deepcopy(EXAMPLE)
    node = spec
    *parents, last = path_tail
    for k in parents:
        node = node[k]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return spec


@pytest.mark.parametrize(
    "path_tail, value, message",
    [
        (
            (2, "demand", "rate", "model"),
            "m-huge",
            "query_types[2].demand.rate.model: unknown ServeGen model 'm-huge' "
            "(known: deepseek-r1, m-large, m-mid, m-small, mm-image)",
        ),
        ((0, "demand", "rate", "speed"), 3, "query_types[0].demand.rate: unknown key(s) ['speed']"),
        (
            (1, "demand", "rate", "source"),
            "poisson",
            "query_types[1].demand.rate.source: unknown rate source 'poisson'",
        ),
        ((3, "demand", "rate", "mean_rps"), -1, "query_types[3].demand.rate.mean_rps: must be >= 0, got -1"),
        (
            (3, "demand", "rate", "mean_rps"),
            "lots",
            "query_types[3].demand.rate.mean_rps: expected a number, got 'lots'",
        ),
        ((0, "demand", "rate", "scale"), 2.0, "query_types[0].demand.rate: give either mean_rps or scale, not both"),
        (
            (1, "demand", "tokens", "trace"),
            "chat",
            "query_types[1].demand.tokens.trace: unknown bundled Azure trace 'chat'",
        ),
        ((3, "demand", "tokens", "output"), KeyError, "query_types[3].demand.tokens.output: required"),
        ((2, "demand", "tokens"), KeyError, "query_types[2].demand.tokens: required"),
        ((2, "demand", "extra"), {}, "query_types[2].demand: unknown key(s) ['extra']"),
        ((1, "name"), "chat", "query_types[1].name: duplicate query type name 'chat'"),
        ((0, "demand", "rate", "tile"), "yes", "query_types[0].demand.rate.tile: expected true or false, got 'yes'"),
        ((3, "demand", "rate", "peak_to_trough"), 0.5, "query_types[3].demand.rate.peak_to_trough: must be >= 1"),
        ((3, "demand", "rate", "path"), "x.csv", "query_types[3].demand.rate: unknown key(s) ['path']"),
    ],
)
def test_bad_specs_name_the_path(path_tail, value, message):
    with pytest.raises(TraceError) as info:
        build_demand(_bad(path_tail, value), 600)
    assert message in str(info.value)


def test_bad_build_arguments(tmp_path):
    with pytest.raises(TraceError, match="window_s: 700 s does not divide a day"):
        build_demand(EXAMPLE, 700)
    with pytest.raises(TraceError, match="window_s=900 cannot be resampled"):
        build_demand(EXAMPLE, 900)
    with pytest.raises(TraceError, match="n_days"):
        build_demand(EXAMPLE, 600, n_days=0)
    with pytest.raises(TraceError, match="query_types: at least one"):
        build_demand([], 600)
    missing = [
        {
            "name": "m",
            "demand": {
                "rate": {"source": "azure_csv", "path": str(tmp_path / "nope.csv")},
                "tokens": {"input": 1, "output": 1},
            },
        }
    ]
    with pytest.raises(TraceError, match=r"query_types\[0\]\.demand\.rate\.path: no such file"):
        build_demand(missing, 600)
    with pytest.raises(TraceError, match=r"splits\['test'\]: days \[20\] are not in the series"):
        build_demand(EXAMPLE, 600, splits={"train": [0], "test": [20]})
    with pytest.raises(TraceError, match=r"query_types\[0\]\.demand\.rate: type 'chat'.*15 days.*tile: true"):
        build_demand(EXAMPLE, 600, n_days=15)


# ------------------------------------------------------------------------------------------ synthetic
def test_diurnal_mean_peak_and_determinism():
    r = diurnal(3, 600, 4.0, peak_to_trough=2.0, peak_hour=20.0)
    assert r.shape == (432,) and r.mean() == pytest.approx(4.0)
    assert r.max() / r.min() == pytest.approx(2.0, rel=0.01)
    assert 19.5 <= (np.argmax(r[:144]) + 0.5) / 6 <= 20.5
    a, b, c = (diurnal(2, 300, 1.0, noise=0.05, seed=s) for s in (7, 7, 8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_bursty_and_regime_shift():
    a = bursty(14, 600, 2.0, seed=3)
    assert a.shape == (2016,) and a.mean() == pytest.approx(2.0)
    assert np.array_equal(a, bursty(14, 600, 2.0, seed=3)) and not np.array_equal(a, bursty(14, 600, 2.0, seed=4))
    levels = np.unique(np.round(a / a.min(), 9))
    assert levels.tolist() == pytest.approx([1.0, 4.0])  # off and on (burst_factor 4)
    on = a > a.min() * 1.5
    assert 0.03 < on.mean() < 0.25  # stationary share 3 / 33 ~ 0.09
    g = regime_shift(14, 600, 5.0, seed=3)
    assert g.mean() == pytest.approx(5.0)
    changes = np.count_nonzero(np.diff(g))
    assert 3 <= changes <= 60 and np.array_equal(g, regime_shift(14, 600, 5.0, seed=3))
    gd = regime_shift(2, 600, 1.0, peak_to_trough=3.0, seed=1)
    assert gd.mean() == pytest.approx(1.0)


def test_with_volatility():
    r = diurnal(14, 600, 2.0)
    assert np.array_equal(with_volatility(r, 0.0, seed=1), r)
    v = with_volatility(r, 0.03, seed=1)
    assert np.array_equal(v, with_volatility(r, 0.03, seed=1))
    assert np.std(np.log(v / r)) == pytest.approx(0.03, rel=0.1)
    assert v.mean() == pytest.approx(2.0, rel=0.01)
    with pytest.raises(TraceError, match="sigma"):
        with_volatility(r, -0.1)
    d = build_demand(EXAMPLE, 600)
    dv = with_volatility(d, 0.02, seed=0)
    assert isinstance(dv, DemandSeries) and not np.array_equal(dv.rate, d.rate)
    assert np.array_equal(dv.input_tokens, d.input_tokens)


# ------------------------------------------------------------------------------------------ DemandSeries
def _series(T=6, I=2, **over):
    kw = dict(
        type_names=tuple(f"t{i}" for i in range(I)),
        window_s=600.0,
        rate=np.ones((T, I)),
        input_tokens=np.full((T, I), 100.0),
        output_tokens=np.full((T, I), 10.0),
        day=np.arange(T) // 2,
    )
    kw.update(over)
    return DemandSeries(**kw)


@pytest.mark.parametrize(
    "over, message",
    [
        ({"rate": np.array([[1.0, np.nan]] * 6)}, "DemandSeries.rate: NaN at window 0, type 't1'"),
        ({"output_tokens": -np.ones((6, 2))}, "DemandSeries.output_tokens: negative value"),
        ({"input_tokens": np.ones((5, 2))}, "DemandSeries.input_tokens: has 5 windows but rate has 6"),
        ({"rate": np.ones((6, 3))}, "DemandSeries.rate: has 3 columns"),
        ({"window_s": 0}, "DemandSeries.window_s: must be > 0"),
        ({"day": np.array([0, 0, 1, 0, 2, 2])}, "DemandSeries.day: must be non-decreasing"),
        ({"cv": np.ones((6, 1))}, "DemandSeries.cv: has 1 columns"),
        ({"filled": np.zeros((2, 2), bool)}, "DemandSeries.filled: shape"),
        ({"type_names": ("a", "a")}, "DemandSeries.type_names: duplicate"),
        ({"splits": {"test": (9,)}}, "DemandSeries.splits['test']: days [9]"),
    ],
)
def test_demand_series_validation(over, message):
    with pytest.raises(TraceError) as info:
        _series(**over)
    assert message in str(info.value)


def test_demand_series_selection():
    s = _series(T=8)
    assert s.n_windows == 8 and s.n_types == 2 and s.windows_per_day == 144 and s.days.tolist() == [0, 1, 2, 3]
    assert s.splits == {"train": (0, 1), "validation": (2,), "test": (3,)}  # 4 days: fallback to 1 / 1
    sub = s.select_days([3, 1])
    assert sub.day.tolist() == [1, 1, 3, 3]
    assert s.split("test").days.tolist() == list(s.splits["test"])
    with pytest.raises(TraceError, match="not in the series"):
        s.select_days([9])
    with pytest.raises(TraceError, match="unknown split"):
        s.split("holdout")
    assert _series(T=2).splits == {}


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    T=st.integers(1, 12),
    I=st.integers(1, 4),
    with_cv=st.booleans(),
    with_filled=st.booleans(),
)
def test_frame_round_trip(data, T, I, with_cv, with_filled):
    floats = st.floats(0, 1e6, allow_nan=False, allow_infinity=False)
    arr = lambda: data.draw(hnp.arrays(np.float64, (T, I), elements=floats))  # noqa: E731
    steps = data.draw(hnp.arrays(np.int64, (T,), elements=st.integers(0, 2)))
    names = tuple(data.draw(st.lists(st.text(min_size=1, max_size=5), min_size=I, max_size=I, unique=True)))
    s = DemandSeries(
        type_names=names,
        window_s=data.draw(st.sampled_from([60.0, 300.0, 600.0, 3600.0])),
        rate=arr(),
        input_tokens=arr(),
        output_tokens=arr(),
        day=np.cumsum(steps),
        cv=arr() if with_cv else None,
        filled=data.draw(hnp.arrays(bool, (T, I))) if with_filled else None,
    )
    df = s.to_frame()
    assert list(df.columns[:6]) == ["window", "day", "type", "rate", "input_tokens", "output_tokens"]
    assert len(df) == T * I
    back = DemandSeries.from_frame(df.sample(frac=1.0, random_state=0), s.window_s)
    assert set(back.type_names) == set(s.type_names)  # shuffled rows: order of first appearance
    order = [back.type_names.index(n) for n in s.type_names]
    for f in ("rate", "input_tokens", "output_tokens"):
        assert np.array_equal(getattr(back, f)[:, order], getattr(s, f))
    assert np.array_equal(back.day, s.day)
    assert (back.cv is None) == (s.cv is None) and (back.filled is None) == (s.filled is None)
    if s.cv is not None:
        assert np.array_equal(back.cv[:, order], s.cv)
    if s.filled is not None:
        assert np.array_equal(back.filled[:, order], s.filled)
    same = DemandSeries.from_frame(df, s.window_s)
    assert same.type_names == s.type_names and np.array_equal(same.rate, s.rate)
    assert same.splits == s.splits


def test_from_frame_errors():
    df = _series().to_frame()
    with pytest.raises(TraceError, match="missing columns"):
        DemandSeries.from_frame(df.drop(columns="rate"), 600)
    with pytest.raises(TraceError, match="expected 12 rows"):
        DemandSeries.from_frame(df.iloc[1:], 600)
