"""The web app's chat pages."""

import re

#: The session ids Rasa's socket.io channel hands out (``uuid4().hex``); nothing else
#: is accepted as a web-chat conversation id.
SESSION_ID = re.compile(r"^[0-9a-f]{32}$")
