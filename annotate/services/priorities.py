"""Item.priority's scale: active-learning scores below, a lead's boost above, shared by reviews and quality runs."""

# Quality runs write 1 - ActiveLab's score, which lies in [0, 1]. A lead's "request more answers" sets this
# priority, above any such score, and a run leaves a boost at or above it alone until the item has its extra answers.
BOOSTED_PRIORITY = 10.0
