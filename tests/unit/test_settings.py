"""Settings read from the environment, where one tool's setting implies another's."""

from __future__ import annotations

from dispatcher.config import load_settings


def test_the_flower_link_follows_flowers_own_port() -> None:
    assert load_settings({}).flower_url == "http://127.0.0.1:5555"
    assert load_settings({"FLOWER_PORT": "5600"}).flower_url == "http://127.0.0.1:5600"
    explicit = {"FLOWER_PORT": "5600", "DISPATCHER_FLOWER_URL": "https://ops.example/flower"}
    assert load_settings(explicit).flower_url == "https://ops.example/flower"
