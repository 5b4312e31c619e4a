"""Answer quality through the running bot: message sets, what a turn answered, scores."""
