"""Form webhooks: body decoders, signature checks and per-product presets (pure: no Flask)."""
