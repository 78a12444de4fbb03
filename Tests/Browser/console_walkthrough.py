#!/usr/bin/env python3
"""The operator console in a real browser (Debian's chromium through chromium-driver, headless).

Walks the product page's path as an operator would: signs in, finds a customer, adds credits
through the form and sees the new balance and history row, is refused an over-deduction with the
reason shown, toggles a setting, sells a Quick Buy package, downloads the CSV, and saves a
full-page screenshot of every page. Exits 1 naming the first step that did not do what it should.

    console_walkthrough.py --url http://127.0.0.1:PORT --token TOKEN --customer ID --shots DIR
"""
import argparse
import os
import pathlib
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support.ui import Select, WebDriverWait

DRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
BROWSER = os.environ.get("CHROMIUM", "/usr/bin/chromium")


class StepFailed(Exception):
    pass


def navigate(driver, by, value):
    """Clicks what loads a new page (a form's button, a link) and waits until the old page is
    gone, so that nothing read next comes from it."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(by, value).click()

    def old_page_gone(_):
        try:
            old.is_enabled()
            return False
        except WebDriverException:  # stale, or "node does not belong to the document" (chromium)
            return True

    WebDriverWait(driver, 15).until(old_page_gone)


def check(condition, what):
    if not condition:
        raise StepFailed(what)


def browser(download_dir):
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                     "--disable-gpu", "--lang=en-US"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(download_dir),
        "download.prompt_for_download": False,
    })
    # The driver's path is given, so Selenium Manager never downloads one.
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
    return driver


def screenshot(driver, shots, name):
    """The whole page: the window is made as tall as the document first."""
    height = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    driver.set_window_size(1280, max(900, min(height + 40, 6000)))
    path = shots / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 900)
    print(f"screenshot {path}")


def text_of(driver, selector):
    return driver.find_element(By.CSS_SELECTOR, selector).text


def notice(driver):
    found = driver.find_elements(By.CSS_SELECTOR, "p.notice")
    return found[0].text if found else ""


def balance(driver):
    return text_of(driver, ".figure.main .value")


def first_history_row(driver):
    return [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "table.history tbody tr:first-child td")]


def fill(driver, element_id, value):
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(value)


def walk(driver, url, token, customer, shots, downloads):
    driver.get(url + "/console")
    check("/console/sign-in" in driver.current_url, "an operator who is not signed in is sent to the sign-in page")
    screenshot(driver, shots, "01-sign-in")
    fill(driver, "token", "not-the-token")
    navigate(driver, By.CSS_SELECTOR, "form button[type=submit]")
    check("not valid" in driver.page_source, "a wrong token is refused with a message")
    fill(driver, "token", token)
    navigate(driver, By.CSS_SELECTOR, "main form button[type=submit]")
    check(driver.find_element(By.TAG_NAME, "h1").text == "Customer List", "signing in opens the Customer List")
    screenshot(driver, shots, "02-customer-list")

    fill(driver, "q", customer)
    navigate(driver, By.CSS_SELECTOR, "form.filters button")
    check(driver.find_element(By.CSS_SELECTOR, "h1.customer").text == customer, "searching the id opens the customer")
    before = balance(driver)
    screenshot(driver, shots, "03-credits-tab")

    fill(driver, "add-amount", "250")
    fill(driver, "add-note", "Browser top-up <b>bold?</b>")
    navigate(driver, By.CSS_SELECTOR, "form[action$='/add'] button")
    check("Add Credits: done" in notice(driver), f"adding credits shows it was done (notice: {notice(driver)!r})")
    after = balance(driver)
    check(to_number(after) == to_number(before) + 250, f"the balance rose by 250 ({before} -> {after})")
    row = first_history_row(driver)
    check(row[:3] == ["Added", "+250", after] and row[3].startswith("Browser top-up <b>bold?</b>"),
          f"the history's newest row is the addition, its note shown as text: {row}")
    screenshot(driver, shots, "04-credits-added")

    fill(driver, "deduct-amount", "999999")
    fill(driver, "deduct-note", "Refund for failed calls")
    Select(driver.find_element(By.ID, "deduct-reason")).select_by_value("refund")
    navigate(driver, By.CSS_SELECTOR, "form[action$='/deduct'] button")
    refused = notice(driver)
    check("Deduct Credits: not done" in refused and "too low" in refused,
          f"an over-deduction is refused with the reason shown (notice: {refused!r})")
    check(balance(driver) == after, "the refused deduction changed nothing")
    screenshot(driver, shots, "05-deduction-refused")

    navigate(driver, By.LINK_TEXT, "Features & Add-ons")
    alerts = driver.find_element(By.ID, "alerts")
    was = alerts.is_selected()
    driver.find_element(By.CSS_SELECTOR, "label[for=alerts]").click()
    navigate(driver, By.CSS_SELECTOR, "form.settings > button")
    check("Save: done" in notice(driver), f"saving the settings is done (notice: {notice(driver)!r})")
    check(driver.find_element(By.ID, "alerts").is_selected() != was, "Enable Low Credit Alerts changed")
    screenshot(driver, shots, "06-features")

    navigate(driver, By.LINK_TEXT, "Billing")
    driver.find_element(By.CSS_SELECTOR, "label[for=package-0]").click()
    fill(driver, "payment-ref", "pay_browser_1")
    navigate(driver, By.CSS_SELECTOR, "form[action$='/quick-buy'] button")
    check("Quick Buy: done" in notice(driver), f"the Quick Buy is done (notice: {notice(driver)!r})")
    screenshot(driver, shots, "07-billing")

    navigate(driver, By.LINK_TEXT, "Audit")
    check("operator-ann" in driver.page_source or "Audit" in driver.page_source, "the audit tab opens")
    screenshot(driver, shots, "08-audit")

    navigate(driver, By.LINK_TEXT, "Credits")
    screenshot(driver, shots, "09-credits-tab-after")
    driver.find_element(By.LINK_TEXT, "Download CSV").click()
    deadline = time.time() + 20
    files = []
    while time.time() < deadline:
        files = [p for p in downloads.glob("*.csv")]
        if files:
            break
        time.sleep(0.2)
    check(files, "the CSV download arrives")
    csv = files[0].read_text()
    check(csv.startswith("entry_id,type,amount,balance,note,") and "Browser top-up <b>bold?</b>" in csv,
          "the CSV has the header and the new row")

    navigate(driver, By.CSS_SELECTOR, ".sign-out button")
    check("/console/sign-in" in driver.current_url, "signing out returns to the sign-in page")
    driver.get(url + "/console")
    check("/console/sign-in" in driver.current_url, "after signing out the console asks to sign in again")


def to_number(text):
    return float(text.replace(",", ""))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--customer", required=True)
    parser.add_argument("--shots", required=True)
    args = parser.parse_args()
    shots = pathlib.Path(args.shots)
    shots.mkdir(parents=True, exist_ok=True)
    downloads = shots / "downloads"
    downloads.mkdir(exist_ok=True)
    for old in downloads.glob("*"):
        old.unlink()
    driver = browser(downloads)
    try:
        walk(driver, args.url.rstrip("/"), args.token, args.customer, shots, downloads)
    except StepFailed as failure:
        screenshot(driver, shots, "failed")
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    finally:
        driver.quit()
    print("console walkthrough: every step passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
