"""The tables of registered decoders, generated from ``decoderlab.blocks.decoder_families()``.

As an mkdocs hook it fills the decoders page's ``<!-- decoder-families -->`` marker at build time;
run as a script it rewrites the README's variant table between its markers
(``python docs/_hooks/decoder_table.py``); tests/test_registry.py fails when the README's table
is not what the registry gives, so neither can drift from the code.
"""

from __future__ import annotations

from pathlib import Path

MARKER = "<!-- decoder-families -->"
README_START, README_END = "<!-- decoder-variants:start -->", "<!-- decoder-variants:end -->"
README = Path(__file__).resolve().parents[2] / "README.md"


def _values(values) -> str:
    return ", ".join(f"`{v}`" for v in values)


def comparison_params() -> dict[str, int]:
    """Parameters of the MNIST comparison model (conf/model/comparison.yaml) per variant."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from decoderlab.blocks import decoder_variants
    from decoderlab.train import config_dir

    counts = {}
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        for variant in decoder_variants():
            cfg = compose("train", [f"model/decoder={variant}"])
            model = instantiate(cfg.model, in_shape=(1, 28, 28))
            counts[variant] = sum(p.numel() for p in model.parameters())
    return counts


def decoder_table() -> str:
    """One row per registered family: its block class, knobs with their allowed values, named
    variants with their settings and parameters, and the source it follows."""
    from decoderlab.blocks.registry import decoder_families

    params = comparison_params()
    rows = [
        "| family | block | knobs (allowed values) | variants (`model/decoder=`; parameters of "
        "the MNIST comparison model) | source |",
        "|---|---|---|---|---|",
    ]
    for family in decoder_families().values():
        knobs = "<br>".join(f"`{k}`: {_values(v)}" for k, v in family.knobs.items())
        variants = "<br>".join(
            f"`{name}`"
            + (f" ({', '.join(f'{k}={v}' for k, v in s.items())})" if s else "")
            + f": {params[name]:,}"
            for name, s in family.variants.items()
        )
        block = f"`{family.block.__qualname__}`"
        rows.append(f"| `{family.name}` | {block} | {knobs} | {variants} | {family.source} |")
    return "\n".join(rows)


def readme_table() -> str:
    """The README's table: every compared variant, its parameters and its family's source."""
    from decoderlab.blocks import decoder_variants

    params = comparison_params()
    rows = [
        "| `model/decoder=` | parameters (MNIST comparison model) | source |",
        "|---|---|---|",
    ]
    rows += [f"| `{v}` | {params[v]:,} | {f.source} |" for v, f in decoder_variants().items()]
    return "\n".join(rows)


def readme_with_table(readme: str) -> str:
    """``readme`` with the text between its variant-table markers replaced by the table."""
    head, rest = readme.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    return f"{head}{README_START}\n\n{readme_table()}\n\n{README_END}{tail}"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, decoder_table())


if __name__ == "__main__":
    README.write_text(readme_with_table(README.read_text()))
    print(f"rewrote the decoder table of {README}")
