"""Headless Chromium for the tests that open pages as their readers do (the report, the docs site,
the service's dashboard): Debian's ``chromium`` driven by Selenium through the system
``chromedriver``, nothing downloaded (the driver's path is given, Selenium Manager switched off)."""

from __future__ import annotations

import os
import shutil

import pytest

WIDE = (1280, 900)


def browser_paths() -> tuple[str, str]:
    """Chromium's and chromedriver's paths, or a skip naming what is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    missing = [name for name, path in (("chromium", chromium), ("chromedriver", driver)) if path is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[test]')")
    if missing:
        pytest.skip(f"no {', '.join(missing)} (apt-get install chromium chromium-driver)")
    return chromium, driver


def headless_chrome(window: tuple[int, int] = WIDE, *arguments: str):
    """A headless Chromium driver of a ``window``-sized window (its console log kept; pages must load
    within 30 s); ``arguments`` are added to Chromium's command line. The caller quits it."""
    chromium, driver_path = browser_paths()
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not fetch a browser or driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", *arguments):
        options.add_argument(arg)
    options.add_argument(f"--window-size={window[0]},{window[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    return driver
