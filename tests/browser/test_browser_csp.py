"""The Content-Security-Policy blocks nothing Vigie's own pages need (scripts, charts, forms)."""

PAGES = ["/", "/batch", "/alarms", "/history", "/monitoring?asset=pump-1&window=hour", "/models"]


def test_pages_work_under_the_policy_without_a_single_violation(page, server, login_as):
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: violations.append(str(error)))
    login_as("analyst")
    for path in PAGES:
        page.goto(server["url"] + path)
        page.wait_for_load_state("networkidle")
    page.goto(server["url"] + "/")
    page.dispatch_event("#asset-pick", "change")  # the handler moved to static/js/predict.js
    page.wait_for_url(server["url"] + "/?asset=pump-1")
    assert violations == []
