#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The desktop window, quantra-esim, driven through AT-SPI as a user would: Xvfb, a private
session bus (AT-SPI), a private system-like bus with the real quantra-esimd (virtual eUICC,
real test SM-DP+ on loopback), polkitd and NetworkManager from python3-dbusmock's templates.
Adds profiles from a QR image and from a pasted code with a confirmation code, cancels a
download mid-way, enables (NetworkManager gets the connection with the ICCID and the APN),
renames, deletes, meets a polkit refusal; takes a screenshot of each page and checks it is not
blank. Prints TAP."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "daemon"))
sys.path.insert(0, os.path.dirname(HERE))
import qldaemon as q  # noqa: E402
import qlgtk as g  # noqa: E402
import qltest  # noqa: E402
from qltest import SMDP  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ql-gtk-")
PKI = os.path.join(TMP, "pki")
SHOTS = os.path.join(qltest.BUILD, "tests", "gtk", "screenshots")
PROVIDERS = "/usr/share/mobile-broadband-provider-info/serviceproviders.xml"
STATE = os.path.join(TMP, "euicc.state")
SPEC = q.virtual_spec(STATE, PKI, seed=2)

qltest.Smdp(PKI).stop()  # the first start writes the PKI
qltest.servers.clear()
shutil.rmtree(SHOTS, ignore_errors=True)
os.makedirs(SHOTS)

# the card: two test profiles; the second one's owner is Telekom Deutschland (MCC 262, MNC 01),
# which the provider database knows, the first one's the test network 001 01, which it does not
qltest.quantra("profile", "list", device=SPEC)
with open(STATE, encoding="utf-8") as f:
    card = json.load(f)
card["profiles"][1]["owner_mccmnc"] = "62F210"
with open(STATE, "w", encoding="utf-8") as f:
    json.dump(card, f)

q.POLICY = g.system_policy(TMP)
bus = q.Bus(TMP)
watcher = q.Client(bus)
polkit = q.Polkit(bus, watcher)
polkit.allow_all()
nm = g.NetworkManager(bus, watcher)
CONFIG = q.write_config(os.path.join(TMP, "conf"), PKI, {"card": SPEC})
daemon = q.Daemon(bus, CONFIG, watcher)
EUICC = watcher.euiccs()[0]
display = g.Display(TMP)
win = g.Window(display, bus.env, os.path.join(TMP, "window.log"))
shots = {}
started = time.monotonic()


def case(name):
    """qltest.case, with each case's start on stderr (the TAP points come at the end)"""
    def wrap(fn):
        print(f"[{time.monotonic() - started:6.1f} s] {name}", file=sys.stderr, flush=True)
        return qltest.case(name)(fn)
    return wrap


def profiles():
    return watcher.profiles(EUICC)


def by_name(name):
    return next(p for p in profiles().values() if p["Name"] == name)


def card_iccids():
    """what the card holds, read past the service"""
    return [p["iccid"] for p in qltest.quantra("profile", "list", device=SPEC).out["profiles"]]


def confirmation_code(matching_id):
    return subprocess.run([SMDP, "--pki", PKI, "--confirmation-code", matching_id],
                          capture_output=True, text=True, check=True).stdout.strip()


def expected_apn(mcc, mnc):
    """The first internet APN the provider database gives the operator, read here with another
    parser than the window's"""
    root = ET.parse(PROVIDERS).getroot()
    for provider in root.iter("provider"):
        for gsm in provider.findall("gsm"):
            ids = [(n.get("mcc"), n.get("mnc")) for n in gsm.findall("network-id")]
            if (mcc, mnc) not in ids:
                continue
            for apn in gsm.findall("apn"):
                usages = [u.get("type") for u in apn.findall("usage")]
                if not usages or "internet" in usages:
                    return apn.get("value")
    return None


def shot(name):
    """A screenshot of the window into the build dir; it must not be blank (taken again while
    the window may still be drawing, for up to 15 s)"""
    path = os.path.join(SHOTS, name + ".png")
    deviation = 0.0
    end = time.monotonic() + 15
    while True:
        time.sleep(0.5)  # the last frame drawn
        display.screenshot(path, win.extents())
        deviation = g.pixel_deviation(path)
        if deviation > 0.05 or time.monotonic() > end:
            break
    assert deviation > 0.05, f"{name}.png looks blank (deviation {deviation:.3f})"
    shots[name] = deviation
    return path


def close_dialog(heading, button="Close"):
    dialog = win.dialog(heading)
    win.press(win.find("push button", button, root=dialog))
    wait_gone(heading)


def wait_gone(heading):
    g.wait_for(lambda: not win.find_all(lambda n: n.getRoleName() == "label" and
                                        n.name == heading), 30, f"“{heading}” to close")


def dialog_text(dialog):
    return "\n".join(n or "" for n in win.labels(dialog))


def go_main():
    back = win.find_all(lambda n: n.getRoleName() == "push button" and n.name == "Back")
    if back:
        try:
            win.press(back[0], timeout=2)
        except Exception:  # noqa: BLE001 - the page changed meanwhile
            pass
    win.find("label", "Profiles")


def open_add():
    go_main()
    win.press(win.find("push button", "Add a profile"))
    win.find("label", "Or Paste the Code")


def result_rows():
    win.find("label", "How the Download Was Secured")
    return {t: win.row_subtitle(t) for t in ("Connection", "Server Certificate", "Key Pin",
                                             "Revocation", "Client Certificate",
                                             "Installation Notice")}


def finished():
    """the Finished reports the service sent so far (as the watcher heard them)"""
    q.spin(0.2)
    return [a[0] for p, i, m, a in watcher.signals if m == "Finished"]


def next_report(seen):
    """the first Finished report after the @seen first ones"""
    q.wait_until(lambda: len([1 for p, i, m, a in watcher.signals if m == "Finished"]) > seen,
                 60, "the operation's Finished")
    return [a[0] for p, i, m, a in watcher.signals if m == "Finished"][seen]


@case("the eUICC page shows the EID with a copy button, free memory, default SM-DP+, pending "
      "notifications, and each profile's icon, name, provider and state")
def _():
    props = watcher.props(EUICC, q.EUICC)
    g.wait_for(lambda: win.row_subtitle("EID") == props["Eid"], 30, "the EID")
    # a configured device: the device spec it is reached through (a modem: its stack and name)
    assert win.row_subtitle("Device") == props["Transport"], win.row_subtitle("Device")
    assert win.row_subtitle("Free Memory").endswith("free"), win.row_subtitle("Free Memory")
    assert win.row_subtitle("Default SM-DP+") == "None set"
    assert win.row_subtitle("Pending Notifications") == "None waiting"
    for p in profiles().values():
        row, names = win.row(p["Name"])
        assert p["ServiceProvider"] in names and "Disabled" in names, names
        icon = win.find("image", "Operator icon", root=row)
        assert icon is not None
        for verb in ("Enable", "Rename", "Details of", "Delete"):
            win.find("push button", f"{verb} {p['Name']}", root=row)
    win.press(win.find("push button", "Copy the EID"))
    win.find("label", "Copied to the clipboard")
    shot("main")


@case("a profile downloaded by another client appears without a refresh")
def _():
    s = qltest.Smdp(PKI)
    op = watcher.download(EUICC, {"activation-code": q.v("s", f"LPA:1${s.address}$OTHER")})
    report = watcher.wait_finished(op)
    assert report["result"] == "ok", report
    row, names = win.row(report["name"])
    assert report["service_provider"] in names, names


@case("no screenshot portal on the session: the Add page says so and offers the image file")
def _():
    open_add()
    g.wait_for(lambda: "No screenshot service" in win.row_subtitle("Screenshot"), 30,
               "the portal's absence")
    assert "choose the file instead" in win.row_subtitle("Screenshot")
    button = win.find("push button", "Take a screenshot of the QR code")
    assert not button.getState().contains(win.atspi.STATE_SENSITIVE)
    shot("add")


@case("add from a QR image: the file chooser, the result with the security report in words, "
      "the new profile in the list")
def _():
    s = qltest.Smdp(PKI)
    before = set(profiles())
    seen = len(finished())
    image = os.path.join(TMP, "carrier-qr.png")
    subprocess.run(["qrencode", "-o", image, f"LPA:1${s.address}$QR-PICTURE"], check=True)
    open_add()
    win.press(win.find("push button", "Choose the QR code image"))
    chooser = win.dialog("Choose the QR Code Image")
    win.type(image)  # a path typed into GTK's file chooser opens its location entry
    g.wait_for(lambda: any(win.text(n).endswith("carrier-qr.png") for n in win.find_all(
        lambda n: n.getRoleName() == "text", chooser)), 30, "the typed path")
    win.key("Return")
    rows = result_rows()
    report = next_report(seen)
    assert report["result"] == "ok", report
    assert report["tls_version"] in rows["Connection"], rows
    assert report["cipher_suite"] in rows["Connection"], rows
    assert "verified up to" in rows["Server Certificate"], rows
    assert s.address in rows["Server Certificate"], rows
    assert rows["Key Pin"] == f"No pin is configured for {s.address.split(':')[0]}" or \
        "No pin is configured" in rows["Key Pin"], rows
    assert rows["Installation Notice"] == "Delivered to the carrier", rows
    shot("result")
    new = set(profiles()) - before
    assert new == {report["iccid"]}, (new, report)
    win.press(win.find("push button", "Done"))
    win.row(report["name"])
    assert report["iccid"] in card_iccids()


@case("with a screenshot portal: the screenshot's QR code is read, the profile downloaded, the "
      "screenshot file removed")
def _():
    s = qltest.Smdp(PKI)
    before = set(profiles())
    seen = len(finished())
    image = os.path.join(TMP, "screen-qr.png")
    subprocess.run(["qrencode", "-o", image, f"LPA:1${s.address}$FROM-SCREEN"], check=True)
    folder = tempfile.mkdtemp(prefix="pictures-", dir=TMP)
    portal, _ = qltest.start([sys.executable, os.path.join(HERE, "ql-fake-portal.py"), image,
                              folder], r"ready", env=display.env)
    try:
        open_add()
        g.wait_for(lambda: "Show the QR code on screen" in win.row_subtitle("Screenshot"), 30,
                   "the portal found")
        win.press(win.find("push button", "Take a screenshot of the QR code"))
        line = portal.stdout.readline()
        assert line.startswith("screenshot interactive=True"), line
        result_rows()
        report = next_report(seen)
        assert report["result"] == "ok" and report["smdp_address"] == s.address, report
        assert set(profiles()) - before == {report["iccid"]}
        g.wait_for(lambda: os.listdir(folder) == [], 30, "the screenshot file to be removed")
        win.press(win.find("push button", "Done"))
    finally:
        qltest.stop(portal)


@case("add from a pasted code: the agent's dialog asks the confirmation code while the progress "
      "view shows the step and percent; the nickname is applied; no secret in any log")
def _():
    s = qltest.Smdp(PKI)
    before = set(profiles())
    seen = len(finished())
    code = confirmation_code("CC-PASTED")
    open_add()
    win.set_text(win.find("text", "Nickname for the new profile"), "Travel")
    win.set_text(win.find("text", "Activation code"),
                 f"LPA:1${s.address}$CC-PASTED")
    win.press(win.find("push button", "Download the profile"))
    dialog = win.dialog("Confirmation Code")
    assert s.address.split(":")[0] in dialog_text(dialog), dialog_text(dialog)
    # meanwhile: the step and the percent
    assert win.row_subtitle("Step") == "Waiting for the confirmation code"
    bar = win.find("progress bar", "Download progress")
    percent = bar.queryValue().currentValue
    assert 0 < percent < 100, percent
    shot("confirmation")
    entry = win.find(("password text", "text"), "Confirmation code", root=dialog)
    win.set_text(entry, code)
    win.press(win.find("push button", "Continue", root=dialog))
    result_rows()
    report = next_report(seen)
    assert report["result"] == "ok" and report["confirmation_code_used"] is True, report
    new = set(profiles()) - before
    assert new == {report["iccid"]}, new
    assert profiles()[report["iccid"]]["Nickname"] == "Travel"
    # the fields are emptied once the code did its work
    win.press(win.find("push button", "Done"))
    open_add()
    assert win.text(win.find("text", "Activation code")) == ""
    logs = win.log_text() + daemon.text()
    assert code not in logs and "CC-PASTED" not in logs, "a secret reached a log"


@case("cancel mid-way: the download stops, nothing is installed, the SM-DP+ hears "
      "cancelSession; the window answers meanwhile (typed text reads back)")
def _():
    s = qltest.Smdp(PKI, "slow@getBoundProfilePackage")
    before = set(profiles())
    on_card = card_iccids()
    seen = len(finished())
    open_add()
    win.set_text(win.find("text", "Activation code"), f"LPA:1${s.address}$SLOW-1")
    win.press(win.find("push button", "Download the profile"))
    g.wait_for(lambda: "getBoundProfilePackage" in win.row_subtitle("Step"), 60,
               "the download step")
    shot("progress")
    # a click into the code field (the next code may be pasted meanwhile), typing, and the
    # text read back: the window answers while the service works
    field = win.find("text", "Activation code")
    win.set_text(field, "")
    win.click(field)
    win.type("typed while busy")
    g.wait_for(lambda: win.text(field) == "typed while busy", 30, "the typed text")
    assert "getBoundProfilePackage" in win.row_subtitle("Step"), "the download ended by itself"
    win.press(win.find("push button", "Cancel the download"))
    dialog = win.dialog("Download Cancelled")
    assert "Nothing was installed" in dialog_text(dialog)
    close_dialog("Download Cancelled")
    report = next_report(seen)
    assert report["error_name"] == q.ERROR + "Cancelled", report
    assert set(profiles()) == before
    assert card_iccids() == on_card
    assert any("cancelSession" in line for line in s.lines())
    win.set_text(field, "")


@case("enable: a warning first, then NetworkManager gets a gsm connection bound to the ICCID "
      "with the APN the provider database gives the profile's operator, activated")
def _():
    p = by_name("Test Profile 2")
    apn = expected_apn("262", "01")
    assert apn, "the provider database has no APN for 262 01"
    go_main()
    win.press(win.find("push button", "Enable Test Profile 2"))
    dialog = win.dialog("Enable “Test Profile 2”?")
    assert "connection" in dialog_text(dialog) and "drops" in dialog_text(dialog)
    win.press(win.find("push button", "Enable", root=dialog))
    dialog = win.dialog("Connect to Mobile Data?")
    field = win.find("text", "Access Point Name (APN)", root=dialog)
    assert win.text(field) == apn, (win.text(field), apn)
    assert "provider database" in dialog_text(dialog)
    assert by_name("Test Profile 2")["State"] == "enabled"
    shot("connect")
    win.press(win.find("push button", "Connect", root=dialog))
    found = g.wait_for(lambda: nm.by_sim(p["Iccid"]), 30, "the NetworkManager connection")
    assert len(found) == 1, found
    settings = next(iter(found.values()))
    assert settings["connection"]["type"] == "gsm", settings
    assert settings["gsm"]["apn"] == apn, settings
    g.wait_for(lambda: nm.active(), 30, "the activation")
    row, names = win.row("Test Profile 2")
    assert "Enabled" in names, names


@case("enable a profile the provider database does not know: the APN is asked; declining "
      "creates nothing, a typed APN is used")
def _():
    p = by_name("Test Profile 1")
    before = nm.connections()
    win.press(win.find("push button", "Enable Test Profile 1"))
    win.press(win.find("push button", "Enable", root=win.dialog("Enable “Test Profile 1”?")))
    dialog = win.dialog("Connect to Mobile Data?")
    field = win.find("text", "Access Point Name (APN)", root=dialog)
    assert win.text(field) == ""
    assert "not in the mobile broadband provider database" in dialog_text(dialog)
    connect = win.find("push button", "Connect", root=dialog)
    assert not connect.getState().contains(win.atspi.STATE_SENSITIVE)
    win.press(win.find("push button", "Not Now", root=dialog))
    wait_gone("Connect to Mobile Data?")
    q.spin(1.0)
    assert nm.connections() == before, "a connection was created though the user declined"
    assert by_name("Test Profile 1")["State"] == "enabled"
    assert by_name("Test Profile 2")["State"] == "disabled"
    # once more, with an APN typed in
    win.press(win.find("push button", "Disable Test Profile 1"))
    win.press(win.find("push button", "Disable", root=win.dialog("Disable “Test Profile 1”?")))
    g.wait_for(lambda: by_name("Test Profile 1")["State"] == "disabled", 60, "the disable")
    win.press(win.find("push button", "Enable Test Profile 1"))
    win.press(win.find("push button", "Enable", root=win.dialog("Enable “Test Profile 1”?")))
    dialog = win.dialog("Connect to Mobile Data?")
    win.set_text(win.find("text", "Access Point Name (APN)", root=dialog), "apn.example")
    win.press(win.find("push button", "Connect", root=dialog))
    found = g.wait_for(lambda: nm.by_sim(p["Iccid"]), 30, "the NetworkManager connection")
    assert [s["gsm"]["apn"] for s in found.values()] == ["apn.example"], found


@case("enable again: the profile's connection is updated, not duplicated")
def _():
    p = by_name("Test Profile 2")
    (path, _), = nm.by_sim(p["Iccid"]).items()
    nm.add_update2(path)
    win.press(win.find("push button", "Enable Test Profile 2"))
    win.press(win.find("push button", "Enable", root=win.dialog("Enable “Test Profile 2”?")))
    dialog = win.dialog("Connect to Mobile Data?")
    win.set_text(win.find("text", "Access Point Name (APN)", root=dialog), "internet.telekom")
    win.press(win.find("push button", "Connect", root=dialog))
    g.wait_for(lambda: [s["gsm"]["apn"] for s in nm.by_sim(p["Iccid"]).values()] ==
               ["internet.telekom"], 30, "the updated APN")
    assert list(nm.by_sim(p["Iccid"])) == [path]


@case("rename, then the details page shows the profile")
def _():
    p = by_name("Test Profile 1")
    go_main()
    # the switches left notifications, which this service (notification-retry=0) does not send
    # by itself: the page says so instead of promising a background delivery
    pending = watcher.prop(EUICC, q.EUICC, "PendingNotifications")
    assert pending > 0, pending
    g.wait_for(lambda: win.row_subtitle("Pending Notifications").startswith(
        f"{pending} waiting; not sent in the background"), 30, "the pending notifications")
    win.press(win.find("push button", "Rename Test Profile 1"))
    dialog = win.dialog("Rename “Test Profile 1”")
    win.set_text(win.find("text", "Nickname", root=dialog), "Work SIM")
    win.press(win.find("push button", "Rename", root=dialog))
    g.wait_for(lambda: by_name("Test Profile 1")["Nickname"] == "Work SIM", 60, "the nickname")
    g.wait_for(lambda: any("Nickname: Work SIM" in n for n in win.row("Test Profile 1")[1]),
               30, "the nickname in the row")
    win.press(win.find("push button", "Details of Work SIM"))
    win.find("label", "Profile Details")
    details = {t: win.row_subtitle(t) for t in ("ICCID", "Operator", "Nickname", "State")}
    assert details == {"ICCID": p["Iccid"], "Operator": "MCC 001, MNC 01",
                       "Nickname": "Work SIM", "State": by_name("Test Profile 1")["State"].title()}, \
        details
    shot("details")
    go_main()


@case("delete: confirmation first, then the profile is gone from the list and the card; an "
      "enabled profile must be disabled first")
def _():
    travel = next(p for p in profiles().values() if p["Nickname"] == "Travel")
    go_main()
    assert by_name("Test Profile 2")["State"] == "enabled"
    win.press(win.find("push button", "Delete Test Profile 2"))
    dialog = win.dialog("Delete “Test Profile 2”?")
    assert "disable it first" in dialog_text(dialog), dialog_text(dialog)
    assert not win.find_all(lambda n: n.getRoleName() == "push button" and
                            g.name_matches(n.name, "Delete"), dialog)
    close_dialog("Delete “Test Profile 2”?", "Cancel")
    win.press(win.find("push button", "Delete Travel"))
    dialog = win.dialog("Delete “Travel”?")
    assert "cannot be undone" in dialog_text(dialog)
    win.press(win.find("push button", "Delete", root=dialog))
    g.wait_for(lambda: travel["Iccid"] not in profiles(), 60, "the deletion")
    win.absent("push button", "Delete Travel")
    assert travel["Iccid"] not in card_iccids()


@case("polkit refuses: the window shows the service's message, and nothing changes")
def _():
    polkit.allow_all(False)
    try:
        s = qltest.Smdp(PKI)
        p = by_name("Test Profile 2")
        path = q.ROOT + "/Profile/" + p["Iccid"]
        message = q.expect_error(lambda: watcher.call(path, q.PROFILE, "SetNickname", ("x",),
                                                      "(s)"), "Error.NotAuthorized")
        message = message.split(": ", 1)[1] if message.startswith("GDBus.Error:") else message
        before = profiles()
        on_card = card_iccids()
        go_main()
        win.press(win.find("push button", "Rename Test Profile 2"))
        dialog = win.dialog("Rename “Test Profile 2”")
        win.set_text(win.find("text", "Nickname", root=dialog), "Denied")
        win.press(win.find("push button", "Rename", root=dialog))
        dialog = win.dialog("Could not rename “" + p["Iccid"] + "”")
        text = dialog_text(dialog)
        assert message in text, (message, text)
        assert "not allowed" in text, text
        shot("denied")
        close_dialog("Could not rename “" + p["Iccid"] + "”")
        open_add()
        win.set_text(win.find("text", "Activation code"), f"LPA:1${s.address}$NO")
        win.press(win.find("push button", "Download the profile"))
        dialog = win.dialog("The Download Did Not Start")
        assert "org.quantra.esim.download" in dialog_text(dialog), dialog_text(dialog)
        close_dialog("The Download Did Not Start")
        assert profiles() == before and card_iccids() == on_card
        assert not any("initiateAuthentication" in line for line in s.lines())
    finally:
        polkit.allow_all(True)


@case("every button on the main page has an accessible name, and Tab reaches each profile's "
      "controls")
def _():
    go_main()
    buttons = win.find_all(lambda n: n.getRoleName() in ("push button", "toggle button"))
    unnamed = [win.path(b) for b in buttons if not b.name or b.name.startswith(("Gtk", "Adw"))]
    assert not unnamed, unnamed
    win.focus(win.find("push button", "Delete Test Profile 2"))


@case("the service stops: the window says so; it comes back by itself when the service does")
def _():
    global daemon
    assert daemon.stop() == 0
    win.find("label", "The eSIM Service Is Not Running")
    shot("no-service")
    daemon = q.Daemon(bus, CONFIG, watcher)
    win.row("Test Profile 2", timeout=60)


try:
    code = win.stop()
    if code not in (0, -15):
        qltest.fail("the window exits cleanly", f"exit {code}: {win.log_text()}")
    for word in ("CRITICAL", "Gtk-ERROR"):
        if word in win.log_text():
            qltest.fail("the window logs no critical", win.log_text())
            break
    print("# screenshots (pixel standard deviation): " +
          ", ".join(f"{k} {v:.3f}" for k, v in shots.items()), flush=True)
    print(f"# in {SHOTS}", flush=True)
finally:
    display.stop()
    daemon.stop()
    nm.stop()
    polkit.stop()
    watcher.close()
    bus.stop()
qltest.finish(TMP)
