"""`make bench`: NLU quality, conversation latency and throughput, memory, start-up and
training time of 解绑助手, measured side by side against a plain `rasa init` bot.

    python -m bot.bench            # full run, writes docs/benchmarks.md, docs/nlu.md, docs/bench/
    python -m bot.bench --quick    # a few turns, to a temporary folder: checks the harness works

On a shared 2-core machine absolute numbers are noisy, so every comparison is made within
one run, alternating between the bots, and reported as a ratio.
"""
