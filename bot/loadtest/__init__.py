"""``make loadtest``: Locust (headless) against the production profile through nginx.

- ``locustfile``  simulated merchants: FAQ, full unbind forms, status checks, WeChat
- ``wechat``      signed callbacks as WeChat sends them, and a fake message API
- ``verify``      what the database and the trackers say after the run
- ``__main__``    starts the profile, runs Locust with the faults, writes the report
"""
