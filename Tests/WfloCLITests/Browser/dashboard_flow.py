"""The dashboard in a real browser: headless Chromium driven by chromium-driver through selenium.

Usage: dashboard_flow.py BASE_URL TOKEN RUN_ID SCREENSHOT_DIR LIVE_RUN_ID FAILED_RUN_ID

Logs in with TOKEN, opens the run RUN_ID (waiting for approval) and clicks Approve on each request
until the run shows completed; opens LIVE_RUN_ID's page and, without reloading it, approves its
requests through the API: the page's live-update script must show it completed; opens the Failed
page and clicks Retry on FAILED_RUN_ID. Saves screenshots of the inbox, the run pages and the
Failed page. Exits non-zero with a message saying which step failed.
"""
import json
import os
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def api(base, token, method, path, body=None):
    """One call to the /v1 API; returns the parsed JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read().decode())


def badge(driver):
    try:
        return driver.find_element(By.CSS_SELECTOR, "p.sub .badge").text
    except Exception:
        return ""


def main() -> int:
    base, token, run_id, shots, live_id, failed_id = sys.argv[1:7]
    os.makedirs(shots, exist_ok=True)
    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1400"):
        options.add_argument(argument)
    options.binary_location = os.environ.get("WFLO_CHROMIUM", "/usr/bin/chromium")
    service = Service(executable_path=os.environ.get("WFLO_CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.get(base + "/login")
        driver.find_element(By.NAME, "token").send_keys(token)
        driver.find_element(By.CSS_SELECTOR, "form.login button").click()
        # The click starts a navigation: wait for the run list, not the login page's heading (a stale element).
        try:
            WebDriverWait(driver, 30, ignored_exceptions=(Exception,)).until(lambda d: "/login" not in d.current_url and "Runs" in d.find_element(By.TAG_NAME, "h1").text)
        except Exception:
            pass
        if "Runs" not in driver.find_element(By.TAG_NAME, "h1").text:
            print("login did not reach the run list: " + driver.page_source[:500])
            return 1
        driver.get(base + "/approvals")
        if run_id[:12] not in driver.page_source:
            print("the inbox does not show the run " + run_id)
            return 1
        driver.save_screenshot(os.path.join(shots, "inbox.png"))
        driver.get(base + "/runs/" + run_id)
        if "waiting_approval" not in driver.page_source:
            print("the run page does not show waiting_approval")
            return 1
        driver.save_screenshot(os.path.join(shots, "run-waiting.png"))
        # Approve each request the run makes (the publish example asks twice: the review, then its paid step).
        deadline = time.time() + 90
        while time.time() < deadline:
            driver.get(base + "/runs/" + run_id)
            if badge(driver) == "completed":
                break
            buttons = driver.find_elements(By.CSS_SELECTOR, "button.approve")
            if buttons:
                driver.find_element(By.NAME, "comment").send_keys("approved from the browser test")
                buttons[0].click()
                WebDriverWait(driver, 30, ignored_exceptions=(Exception,)).until(lambda d: "/runs/" in d.current_url)
            time.sleep(0.25)
        if badge(driver) != "completed":
            print("the run did not complete after Approve; last status " + badge(driver))
            return 1
        driver.save_screenshot(os.path.join(shots, "run-completed.png"))
        driver.get(base + "/approvals")
        driver.save_screenshot(os.path.join(shots, "inbox-empty.png"))

        # Live updates: the page stays open (no driver.get, no refresh) while the API approves.
        driver.get(base + "/runs/" + live_id)
        if badge(driver) != "waiting_approval":
            print("the live run's page does not show waiting_approval: " + badge(driver))
            return 1
        deadline = time.time() + 90
        while time.time() < deadline:
            if badge(driver) == "completed":
                break
            for request in api(base, token, "GET", "/v1/approvals?status=pending&run=" + live_id)["approvals"]:
                api(base, token, "POST", "/v1/approvals/" + request["id"] + "/decision", {"decision": "approve", "comment": "approved through the API"})
            time.sleep(0.5)
        if badge(driver) != "completed":
            print("the open run page did not turn completed by itself; it shows " + badge(driver))
            return 1
        driver.save_screenshot(os.path.join(shots, "run-live-completed.png"))

        # The Failed page: the dead letter, and its Retry button.
        driver.get(base + "/failed")
        if failed_id[:12] not in driver.page_source or "Summarize" not in driver.page_source and "summarize" not in driver.page_source:
            print("the Failed page does not show the failed run " + failed_id)
            return 1
        driver.save_screenshot(os.path.join(shots, "failed.png"))
        driver.find_element(By.CSS_SELECTOR, "form.retry[action='/runs/" + failed_id + "/retry'] button").click()
        try:
            WebDriverWait(driver, 60, ignored_exceptions=(Exception,)).until(lambda d: badge(d) == "completed")
        except Exception:
            print("the retried run's page did not show completed; it shows " + badge(driver))
            return 1
        driver.save_screenshot(os.path.join(shots, "run-retried.png"))
        print("completed")
        return 0
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
