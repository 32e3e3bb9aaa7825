"""The dashboard in a real browser: headless Chromium driven by chromium-driver through selenium.

Usage: dashboard_flow.py BASE_URL TOKEN RUN_ID SCREENSHOT_DIR

Logs in with TOKEN, opens the run RUN_ID (waiting for approval), clicks Approve, reloads until the
run shows completed, and saves screenshots of the inbox (before), the run page (before and after).
Exits non-zero with a message saying which step failed.
"""
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def main() -> int:
    base, token, run_id, shots = sys.argv[1:5]
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
        driver.find_element(By.NAME, "comment").send_keys("approved from the browser test")
        driver.find_element(By.CSS_SELECTOR, "button.approve").click()
        deadline = time.time() + 60
        while time.time() < deadline:
            driver.get(base + "/runs/" + run_id)
            badge = driver.find_element(By.CSS_SELECTOR, "p.sub .badge").text
            if badge == "completed":
                driver.save_screenshot(os.path.join(shots, "run-completed.png"))
                driver.get(base + "/approvals")
                driver.save_screenshot(os.path.join(shots, "inbox-empty.png"))
                print("completed")
                return 0
            time.sleep(0.25)
        print("the run did not complete after Approve; last status " + badge)
        return 1
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
