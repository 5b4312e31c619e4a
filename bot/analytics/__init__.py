"""Operator analytics for the console's 统计 page (issue 15).

Every figure is one SQL aggregate over the Rasa tracker store's ``events`` table
(:mod:`bot.analytics.conversations`) or the ticket database (:mod:`bot.analytics.tickets`,
:mod:`bot.analytics.feedback`); nothing loads every tracker into memory. The unanswered
messages come from the candidate store (:mod:`bot.learning.candidates`), grouped there.
:mod:`bot.analytics.report` puts the page together and renders each table as CSV.
"""
