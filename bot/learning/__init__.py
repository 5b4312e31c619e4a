"""Learning from traffic: candidate training messages (``bot.learning.candidates``)."""
