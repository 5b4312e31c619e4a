"""解绑助手: the 海科融通 POS unbind chatbot and its ticket service."""
