"""mkdocs hook: the decoders page's table of registered block families, generated from
``decoderlab.blocks.registry.decoder_families()`` at build time, so it lists what is registered."""

from __future__ import annotations

MARKER = "<!-- decoder-families -->"


def _values(values) -> str:
    return ", ".join(f"`{v}`" for v in values)


def decoder_table() -> str:
    """One row per registered family: its block class, knobs with their allowed values, named
    variants with their settings, and the source it follows."""
    from decoderlab.blocks.registry import decoder_families

    rows = [
        "| family | block | knobs (allowed values) | variants (`model/decoder=`) | source |",
        "|---|---|---|---|---|",
    ]
    for family in decoder_families().values():
        knobs = "<br>".join(f"`{k}`: {_values(v)}" for k, v in family.knobs.items())
        variants = "<br>".join(
            f"`{name}`" + (f" ({', '.join(f'{k}={v}' for k, v in s.items())})" if s else "")
            for name, s in family.variants.items()
        )
        block = f"`{family.block.__qualname__}`"
        rows.append(f"| `{family.name}` | {block} | {knobs} | {variants} | {family.source} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, decoder_table())
