"""Tests of the sourced catalog (hetserve_env.catalog): bundled data, derived quantities, lookups,
overrides and the validation of malformed files."""

from __future__ import annotations

import copy
import csv
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hetserve_env.catalog import (
    DATA_DIR,
    TASKS,
    Catalog,
    CatalogError,
    GPUType,
    ModelSpec,
    Precision,
    QualityEntry,
    load_catalog,
)

REQUIRED_GPUS = ["T4", "L4", "A10G", "L40S", "A100-40GB", "A100-80GB", "H100-SXM", "H200"]
REQUIRED_MODELS = [
    "Llama-3.2-1B", "Llama-3.2-3B", "Llama-3.1-8B", "Llama-3.1-70B", "Llama-3.3-70B", "Llama-3.1-405B",
    "Qwen2.5-3B", "Qwen2.5-7B", "Qwen2.5-14B", "Qwen2.5-32B", "Qwen2.5-72B", "Gemma-2-9B", "Gemma-2-27B",
    "Mistral-7B", "Mixtral-8x7B", "Phi-4",
]


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_catalog()


@pytest.fixture()
def data_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled data directory."""
    target = tmp_path / "catalog"
    target.mkdir()
    for name in ("gpus.csv", "precisions.csv", "models.csv", "quality.csv"):
        shutil.copy(DATA_DIR / name, target / name)
    return target


def _rewrite(path: Path, edit) -> None:
    """Apply ``edit(header, rows) -> (header, rows)`` to a CSV file."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    header, rows = edit(header, rows)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def _set(path: Path, key: str, column: str, value: str) -> None:
    def edit(header, rows):
        col = header.index(column)
        for row in rows:
            if row[0] == key:
                row[col] = value
        return header, rows

    _rewrite(path, edit)


# ------------------------------------------------------------------ bundled data


def test_bundled_catalog_loads_and_is_cached(cat: Catalog) -> None:
    assert load_catalog() is cat
    assert len(cat.gpus) >= 8 and len(cat.models) >= 16 and set(cat.precisions) >= {"fp16", "int8", "int4"}
    fresh = load_catalog(DATA_DIR)  # explicit directory: not the cached object, same content
    assert fresh is not cat and fresh == cat


def test_required_names_present(cat: Catalog) -> None:
    assert set(REQUIRED_GPUS) <= set(cat.gpus)
    assert set(REQUIRED_MODELS) <= set(cat.models)
    assert TASKS == ("code", "math", "knowledge", "chat")
    for model in cat.models:
        for task in TASKS:
            assert 0.0 <= cat.base_error(model, task) <= 1.0


def test_every_row_has_a_source(cat: Catalog) -> None:
    records = [*cat.gpus.values(), *cat.precisions.values(), *cat.models.values(), *cat.quality.values()]
    for record in records:
        assert record.source.strip(), record
    # the CSV files themselves, every data row: a non-empty source cell
    for name in ("gpus.csv", "precisions.csv", "models.csv", "quality.csv"):
        with (DATA_DIR / name).open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                assert row["source"].strip(), (name, row)
    assert (DATA_DIR / "SOURCES.md").is_file()


def test_estimates_are_marked(cat: Catalog) -> None:
    assert "ESTIMATE" in cat.gpu("A10G").notes  # A10G dense TFLOPS is unsourced
    for gpu in cat.gpus.values():
        assert "ESTIMATE" in gpu.notes  # default_inventory is an illustrative quota
    for entry in cat.quality.values():
        if "ESTIMATE" in entry.benchmark:
            assert "ESTIMATE" in entry.notes, entry


def test_quality_error_matches_score(cat: Catalog) -> None:
    for entry in cat.quality.values():
        scale = 10.0 if "MT-Bench" in entry.benchmark else 100.0
        assert entry.error == pytest.approx(1.0 - entry.score / scale, abs=1e-3), entry
    assert cat.base_error("Llama-3.1-8B", "code") == pytest.approx(0.274)
    assert cat.base_error("Qwen2.5-7B", "chat") == pytest.approx(0.125)


def test_derived_kv_bytes_match_catalog_facts(cat: Catalog) -> None:
    assert cat.model("Llama-3.1-8B").kv_bytes_per_token == 131072
    assert cat.model("Llama-3.1-70B").kv_bytes_per_token == 327680
    assert cat.model("Qwen2.5-7B").kv_bytes_per_token == 57344
    assert cat.model("Llama-3.1-405B").kv_bytes_per_token == 516096
    assert cat.model("Gemma-2-9B").kv_bytes_per_token == 344064


def test_weight_gb(cat: Catalog) -> None:
    fp16, int8, int4 = (cat.precision(p) for p in ("fp16", "int8", "int4"))
    llama70 = cat.model("Llama-3.1-70B")
    assert llama70.weight_gb(fp16) == pytest.approx(140, abs=2)
    assert llama70.weight_gb(int8) == pytest.approx(llama70.weight_gb(fp16) / 2)
    assert llama70.weight_gb(int4) < llama70.weight_gb(int8)
    mixtral = cat.model("Mixtral-8x7B")
    assert mixtral.is_moe and mixtral.weight_gb(fp16) == pytest.approx(93.4, abs=0.5)
    assert not llama70.is_moe


def test_precisions_and_compute_factor(cat: Catalog) -> None:
    fp16, int8, int4 = (cat.precision(p) for p in ("fp16", "int8", "int4"))
    assert (fp16.bytes_per_param, fp16.compute_factor, fp16.error_multiplier) == (2.0, 1.0, 1.0)
    assert (int8.bytes_per_param, int8.error_multiplier) == (1.0, 1.15)
    assert int4.error_multiplier == 1.35 and 0.5 <= int4.bytes_per_param < 1.0
    h100, a100 = cat.gpu("H100-SXM"), cat.gpu("A100-80GB")
    assert h100.fp8 and not a100.fp8
    assert int8.compute_factor_on(h100) == int8.compute_factor > 1.0
    assert int8.compute_factor_on(a100) == 1.0
    assert fp16.compute_factor_on(a100) == fp16.compute_factor_on(h100) == 1.0
    assert int4.compute_factor_on(h100) == int4.compute_factor


def test_gpu_rows_are_coherent(cat: Catalog) -> None:
    for gpu in cat.gpus.values():
        assert gpu.price_per_hour > 0 and gpu.gpus_per_node >= 1 and gpu.default_inventory >= 0
    assert cat.gpu("H100-SXM").price_per_hour == pytest.approx(98.32 / 8)
    assert cat.gpu("T4").price_per_hour == pytest.approx(0.526)
    assert cat.gpu("H100-SXM").link_gbs > cat.gpu("L40S").link_gbs  # NVLink vs PCIe


# ------------------------------------------------------------------ lookups


@pytest.mark.parametrize(
    ("method", "bad", "suggestion"),
    [("gpu", "H300", "H200"), ("model", "Llama3.1-8B", "Llama-3.1-8B"), ("precision", "FP16", "fp16")],
)
def test_unknown_names_raise_with_suggestion(cat: Catalog, method: str, bad: str, suggestion: str) -> None:
    with pytest.raises(CatalogError) as info:
        getattr(cat, method)(bad)
    message = str(info.value)
    assert repr(bad) in message and repr(suggestion) in message and "known:" in message
    assert isinstance(info.value, ValueError)


def test_unknown_task(cat: Catalog) -> None:
    with pytest.raises(CatalogError, match="unknown task 'maths'.*'math'"):
        cat.base_error("Llama-3.1-8B", "maths")


# ------------------------------------------------------------------ overrides and immutability


def test_with_overrides(cat: Catalog) -> None:
    cheap = cat.with_overrides(gpus={"H100-SXM": {"price_per_hour": 2.5, "fp8": "false"}},
                               precisions={"int8": {"error_multiplier": 1.1}},
                               quality={("Phi-4", "math"): {"error": 0.1}, "Phi-4/chat": {"error": 0.2}})
    assert cheap.gpu("H100-SXM").price_per_hour == 2.5 and cheap.gpu("H100-SXM").fp8 is False
    assert cheap.precision("int8").error_multiplier == 1.1
    assert cheap.base_error("Phi-4", "math") == 0.1 and cheap.base_error("Phi-4", "chat") == 0.2
    assert cat.gpu("H100-SXM").price_per_hour == pytest.approx(12.29)  # original untouched
    assert cat.with_overrides() == cat


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"gpus": {"H100-SXM": {"price_per_hr": 2.5}}}, "unknown field 'price_per_hr'.*'price_per_hour'"),
        ({"gpus": {"H100-SXM": {"price_per_hour": -1}}}, "H100-SXM.*price_per_hour.*> 0"),
        ({"gpus": {"H300": {"price_per_hour": 1}}}, "unknown GPU type 'H300'"),
        ({"gpus": {"H100-SXM": {"name": "H100"}}}, "cannot be changed"),
        ({"models": {"Phi-4": {"kv_heads": 80}}}, "kv_heads.*q_heads"),
        ({"precisions": {"int4": {"bytes_per_param": 5}}}, r"bytes_per_param.*\(0, 4\]"),
        ({"quality": {("Phi-4", "math"): {"error": 1.5}}}, r"error.*\[0, 1\]"),
        ({"quality": {"Phi-4": {"error": 0.1}}}, "model/task"),
    ],
)
def test_with_overrides_rejects_bad_input(cat: Catalog, kwargs: dict, pattern: str) -> None:
    with pytest.raises(CatalogError, match=pattern):
        cat.with_overrides(**kwargs)


def test_catalog_is_read_only_picklable_and_subsettable(cat: Catalog) -> None:
    with pytest.raises(TypeError):
        cat.gpus["X"] = cat.gpu("T4")  # type: ignore[index]
    with pytest.raises(AttributeError):
        cat.gpus = {}  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(cat)) == cat
    assert copy.deepcopy(cat) == cat
    small = cat.subset(gpus=["L4", "H100-SXM"], models=["Llama-3.1-8B"])
    assert list(small.gpus) == ["L4", "H100-SXM"] and list(small.models) == ["Llama-3.1-8B"]
    assert set(small.quality) == {("Llama-3.1-8B", t) for t in TASKS}
    with pytest.raises(CatalogError, match="unknown model"):
        cat.subset(models=["GPT-5"])


def test_records_validate_on_construction() -> None:
    gpu = GPUType("X", "80", "2000", "300", "300", "8", "1.5", "4", "yes", "src")
    assert gpu.memory_gb == 80.0 and gpu.gpus_per_node == 8 and gpu.fp8 is True
    with pytest.raises(CatalogError, match="gpus_per_node.*integer"):
        GPUType("X", 80, 2000, 300, 300, 8.5, 1.5, 4, True, "src")
    with pytest.raises(CatalogError, match="source.*empty"):
        Precision("p", 1, 1, 1, "  ")
    with pytest.raises(CatalogError, match="active_params_b"):
        ModelSpec("m", "f", 7, 8, 32, 4096, 32, 8, 128, 4096, "src")
    with pytest.raises(CatalogError, match="task.*'coding'.*did you mean 'code'"):
        QualityEntry("m", "coding", 0.1, "HumanEval", 90, "src")


def test_catalog_requires_complete_quality(cat: Catalog) -> None:
    quality = {k: v for k, v in cat.quality.items() if k != ("Phi-4", "chat")}
    with pytest.raises(CatalogError, match="'Phi-4'.*chat"):
        Catalog(cat.gpus, cat.precisions, cat.models, quality)


# ------------------------------------------------------------------ malformed files


def test_copied_directory_loads(data_copy: Path) -> None:
    assert load_catalog(data_copy) == load_catalog()


def test_missing_column(data_copy: Path) -> None:
    def drop(header, rows):
        col = header.index("bandwidth_gbs")
        return header[:col] + header[col + 1:], [r[:col] + r[col + 1:] for r in rows]

    _rewrite(data_copy / "gpus.csv", drop)
    with pytest.raises(CatalogError, match=r"gpus\.csv: missing column\(s\) 'bandwidth_gbs'"):
        load_catalog(data_copy)


def test_negative_price(data_copy: Path) -> None:
    _set(data_copy / "gpus.csv", "L4", "price_per_hour", "-0.8")
    with pytest.raises(CatalogError, match=r"gpus\.csv: line 3 \('L4'\): column 'price_per_hour' must be > 0"):
        load_catalog(data_copy)


def test_non_numeric_value(data_copy: Path) -> None:
    _set(data_copy / "models.csv", "Phi-4", "layers", "forty")
    with pytest.raises(CatalogError, match=r"models\.csv: line \d+ \('Phi-4'\): column 'layers' must be a number"):
        load_catalog(data_copy)


def test_duplicate_name(data_copy: Path) -> None:
    _rewrite(data_copy / "gpus.csv", lambda h, rows: (h, rows + [rows[0]]))
    with pytest.raises(CatalogError, match=r"gpus\.csv: line \d+: duplicate name 'T4' \(first defined on line 2\)"):
        load_catalog(data_copy)


def test_quality_for_unknown_model(data_copy: Path) -> None:
    _set(data_copy / "quality.csv", "Phi-4", "model", "Phi-5")
    with pytest.raises(CatalogError, match="unknown model 'Phi-5'; did you mean 'Phi-4'"):
        load_catalog(data_copy)


def test_quality_missing_task(data_copy: Path) -> None:
    _rewrite(data_copy / "quality.csv", lambda h, rows: (h, [r for r in rows if r[:2] != ["Phi-4", "chat"]]))
    with pytest.raises(CatalogError, match="'Phi-4' has no quality entry for task.*chat"):
        load_catalog(data_copy)


def test_quality_unknown_task_and_bad_error(data_copy: Path) -> None:
    path = data_copy / "quality.csv"

    def bad_task(header, rows):
        rows[0][1] = "poetry"
        return header, rows

    _rewrite(path, bad_task)
    with pytest.raises(CatalogError, match=r"quality\.csv: line 2 .*column 'task' must be one of"):
        load_catalog(data_copy)


def test_empty_source_and_kv_heads(data_copy: Path) -> None:
    _set(data_copy / "gpus.csv", "H200", "source", "")
    with pytest.raises(CatalogError, match=r"gpus\.csv: line \d+ \('H200'\): column 'source' must not be empty"):
        load_catalog(data_copy)
    shutil.copy(DATA_DIR / "gpus.csv", data_copy / "gpus.csv")
    _set(data_copy / "models.csv", "Mistral-7B", "kv_heads", "64")
    with pytest.raises(CatalogError, match=r"'Mistral-7B'.*kv_heads.*<= q_heads"):
        load_catalog(data_copy)


def test_bad_bytes_per_param_and_ragged_row(data_copy: Path) -> None:
    _set(data_copy / "precisions.csv", "int4", "bytes_per_param", "0")
    with pytest.raises(CatalogError, match=r"precisions\.csv.*'int4'.*bytes_per_param.*\(0, 4\]"):
        load_catalog(data_copy)
    (data_copy / "precisions.csv").write_text("name,bytes_per_param,compute_factor,error_multiplier,source\nfp16,2,1\n")
    with pytest.raises(CatalogError, match=r"precisions\.csv: line 2 has 3 cells"):
        load_catalog(data_copy)


def test_missing_file_and_directory(data_copy: Path, tmp_path: Path) -> None:
    (data_copy / "models.csv").unlink()
    with pytest.raises(CatalogError, match="catalog file not found: .*models.csv"):
        load_catalog(data_copy)
    with pytest.raises(CatalogError, match="catalog directory not found"):
        load_catalog(tmp_path / "nowhere")


def test_comments_blank_lines_and_extra_columns_are_tolerated(data_copy: Path) -> None:
    path = data_copy / "precisions.csv"
    text = path.read_text()
    header, rest = text.split("\n", 1)
    path.write_text("# a comment line\n" + header + ",extra\n\n" + "\n".join(
        line + ",x" if line else line for line in rest.splitlines()) + "\n")
    assert load_catalog(data_copy).precisions == load_catalog().precisions


def test_import_pulls_no_heavy_dependencies() -> None:
    code = (
        "import sys, hetserve_env.catalog as c; c.load_catalog(); "
        "bad = [m for m in ('torch', 'stable_baselines3', 'pulp') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
