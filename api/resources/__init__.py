"""HTTP resources: nouns with on_get/on_post/..., item routes via suffix="item"."""
