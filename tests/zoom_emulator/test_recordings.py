"""Recordings over REST (uuid encoding, download_access_token) and file downloads."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

import httpx
import pytest

from zoom_emulator import expected_sha256, file_bytes, file_key

from tests.zoom_emulator.helpers import bearer, create_meeting, ended_meeting, s2s_headers, user_headers

GIB = 1 << 30


def once(uuid: str) -> str:
    return quote(uuid, safe="")


def twice(uuid: str) -> str:
    return quote(quote(uuid, safe=""), safe="")


async def recorded(emu, http, files=None, headers=None, user="host1@system.converge.test"):
    """A meeting with a finished cloud recording; returns (meeting, control result)."""
    meeting = await ended_meeting(emu, http, headers, user)
    return meeting, await emu.control.complete_recording(meeting["id"], files)


async def download(http: httpx.AsyncClient, url: str, token: str | None, **headers) -> httpx.Response:
    auth = bearer(token) if token else {}
    return await http.get(url, headers={**auth, **headers}, follow_redirects=True)


async def test_recordings_by_numeric_id_and_by_uuid(http, emu):
    s2s = await s2s_headers(emu)
    meeting, result = await recorded(emu, http)
    r = await http.get(f"/v2/meetings/{meeting['id']}/recordings", headers=s2s)
    assert r.status_code == 200
    body = r.json()
    assert body["uuid"] == meeting["uuid"] and body["id"] == meeting["id"]
    assert [f["file_type"] for f in body["recording_files"]] == ["MP4", "M4A", "CHAT", "TIMELINE"]
    assert "download_access_token" not in body
    by_uuid = await http.get(f"/v2/meetings/{twice(meeting['uuid'])}/recordings", headers=s2s)
    assert by_uuid.json() == body
    # a numeric id means the latest instance with a recording
    await emu.control.start_meeting(meeting["id"])
    await emu.control.end_meeting(meeting["id"])
    latest = await emu.control.complete_recording(meeting["id"], ["M4A"])
    r = await http.get(f"/v2/meetings/{meeting['id']}/recordings", headers=s2s)
    assert r.json()["uuid"] == latest["uuid"] != meeting["uuid"]


async def test_hazardous_uuids_resolve_only_double_encoded(http, emu):
    s2s = await s2s_headers(emu)
    made = []
    for _ in range(3):  # plain, leading '/', containing '//' (uuid_style "mixed")
        meeting, _ = await recorded(emu, http)
        made.append(meeting["uuid"])
    plain, leading, double = made
    assert leading.startswith("/") and "//" in double
    for uuid in (leading, double):
        r = await http.get(f"/v2/meetings/{once(uuid)}/recordings", headers=s2s)
        assert r.status_code == 404 and r.json()["code"] == 3001
        assert r.json()["message"].startswith("Meeting does not exist: ")
        raw = await http.get(f"/v2/meetings/{uuid}/recordings", headers=s2s)
        assert raw.status_code == 404
        ok = await http.get(f"/v2/meetings/{twice(uuid)}/recordings", headers=s2s)
        assert ok.status_code == 200 and ok.json()["uuid"] == uuid
    for encode in (once, twice):  # an ordinary uuid works either way
        assert (await http.get(f"/v2/meetings/{encode(plain)}/recordings",
                               headers=s2s)).json()["uuid"] == plain


async def test_recording_errors(http, emu):
    s2s = await s2s_headers(emu)
    m = await ended_meeting(emu, http)
    r = await http.get(f"/v2/meetings/{m['id']}/recordings", headers=s2s)
    assert r.status_code == 404 and r.json() == {"code": 3301,
                                                 "message": "This recording does not exist."}
    r = await http.get("/v2/meetings/123/recordings", headers=s2s)
    assert r.status_code == 404 and r.json()["code"] == 3001
    await emu.control.complete_recording(m["id"])
    other = await user_headers(emu, "gina@globex.test")
    r = await http.get(f"/v2/meetings/{m['id']}/recordings", headers=other)
    assert r.status_code == 404 and r.json()["code"] == 3001


async def test_download_access_token_and_ttl(http, emu):
    s2s = await s2s_headers(emu)
    meeting, _ = await recorded(emu, http, ["M4A"])
    url = f"/v2/meetings/{meeting['id']}/recordings"
    bad = await http.get(url, headers=s2s, params={"include_fields": "download_access_token",
                                                   "ttl": 604801})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "ttl"
    body = (await http.get(url, headers=s2s, params={"include_fields": "download_access_token",
                                                     "ttl": 60})).json()
    token = body["download_access_token"]
    f = body["recording_files"][0]
    r = await download(http, f["download_url"], token)
    assert r.status_code == 200 and r.content == file_bytes(file_key(f["download_url"]),
                                                             f["file_size"])
    await emu.control.advance_clock(61)
    r = await download(http, f["download_url"], token)
    assert r.headers["content-type"].startswith("text/html")


async def test_download_flow_redirects_and_bytes_match_expected_sha256(http, emu):
    _, result = await recorded(emu, http, [{"file_type": "MP4", "size": 3 * (1 << 20) + 17}])
    (f,) = result["files"]
    first = await http.get(f["download_url"], headers=bearer(result["download_token"]))
    assert first.status_code == 302
    assert first.headers["Location"].startswith(f"{emu.base_url}/rec/files/")
    # the pre-signed target needs no Authorization (clients drop it on redirects)
    r = await http.get(first.headers["Location"])
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert int(r.headers["content-length"]) == f["size"] == len(r.content)
    assert hashlib.sha256(r.content).hexdigest() == expected_sha256(f["file_key"], f["size"])
    assert file_key(f["download_url"]) == f["file_key"]
    forged = await http.get(first.headers["Location"].replace("sig=", "sig=00"))
    assert forged.status_code == 403


async def test_who_may_download(http, emu):
    alex = await emu.control.user_token("alex@acme.test")
    meeting, result = await recorded(emu, http, ["CHAT"], bearer(alex["access_token"]), "me")
    url = result["files"][0]["download_url"]
    html_cases = {
        "no token": None,
        "garbage": "not-a-token",
        "another user's token": (await emu.control.user_token("gina@globex.test"))["access_token"],
        "another account's S2S": (await emu.control.s2s_token())["access_token"],
    }
    for case, token in html_cases.items():
        r = await download(http, url, token)
        assert r.status_code == 200, case
        assert r.headers["content-type"].startswith("text/html"), case
        assert "Only the host can download this recording" in r.text, case
    for token in (result["download_token"], alex["access_token"]):
        r = await download(http, url, token)
        assert r.status_code == 200 and r.headers["content-type"] == "text/plain"
    # the host's S2S account token works for system-account meetings
    _, sys_result = await recorded(emu, http, ["CHAT"])
    s2s = (await emu.control.s2s_token())["access_token"]
    assert (await download(http, sys_result["files"][0]["download_url"], s2s)
            ).headers["content-type"] == "text/plain"
    # a download_token belongs to its own recording only
    r = await download(http, sys_result["files"][0]["download_url"], result["download_token"])
    assert r.headers["content-type"].startswith("text/html")
    # tokens in the query string are refused
    r = await http.get(url, params={"access_token": result["download_token"]})
    assert r.status_code == 401 and r.json()["code"] == 124


async def test_download_token_expires_after_a_day(http, emu):
    _, result = await recorded(emu, http, ["CHAT"])
    url = result["files"][0]["download_url"]
    await emu.control.advance_clock(86400 + 1)
    r = await download(http, url, result["download_token"])
    assert r.headers["content-type"].startswith("text/html")


async def test_range_requests(http, emu):
    size = 2 * (1 << 20) + 5
    _, result = await recorded(emu, http, [{"file_type": "M4A", "size": size}])
    f = result["files"][0]
    location = (await http.get(f["download_url"], headers=bearer(result["download_token"]))
                ).headers["Location"]
    whole = file_bytes(f["file_key"], size)
    r = await http.get(location, headers={"Range": "bytes=1048570-1048600"})
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 1048570-1048600/{size}"
    assert r.content == whole[1048570:1048601]
    r = await http.get(location, headers={"Range": "bytes=2097150-"})
    assert r.content == whole[2097150:] and r.headers["Content-Range"].endswith(f"/{size}")
    r = await http.get(location, headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == whole[-10:]
    r = await http.get(location, headers={"Range": f"bytes={size}-"})
    assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{size}"
    assert r.headers.get("Accept-Ranges") is None
    head = await http.head(location)
    assert head.headers["Accept-Ranges"] == "bytes" and int(head.headers["Content-Length"]) == size


async def test_files_of_several_gib_are_streamed(http, emu):
    size = 5 * GIB + 123
    _, result = await recorded(emu, http, [{"file_type": "MP4", "size": size}])
    f = result["files"][0]
    location = (await http.get(f["download_url"], headers=bearer(result["download_token"]))
                ).headers["Location"]
    r = await http.get(location, headers={"Range": f"bytes={size - 100}-"})
    assert r.content == file_bytes(f["file_key"], size, size - 100)
    async with http.stream("GET", location) as stream:
        assert int(stream.headers["Content-Length"]) == size
        got = 0
        async for chunk in stream.aiter_bytes():
            got += len(chunk)
            if got >= 8 << 20:
                break  # the first 8 MiB arrive without the file ever being built
    assert got >= 8 << 20


async def test_connection_cut_mid_download_then_resume(http, emu):
    size = 3 * (1 << 20)
    _, result = await recorded(emu, http, [{"file_type": "MP4", "size": size}])
    f = result["files"][0]
    await emu.control.add_fault("/rec/files/*", action="cut", after_bytes=1_500_000, count=1)
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError):
        async with http.stream("GET", f["download_url"], follow_redirects=True,
                               headers=bearer(result["download_token"])) as stream:
            async for chunk in stream.aiter_bytes():
                received += chunk
    assert len(received) == 1_500_000
    r = await http.get(f["download_url"], follow_redirects=True, headers={
        **bearer(result["download_token"]), "Range": f"bytes={len(received)}-"})
    assert r.status_code == 206
    received += r.content
    assert hashlib.sha256(received).hexdigest() == expected_sha256(f["file_key"], size)


def test_content_is_deterministic_and_position_dependent():
    a = file_bytes("k1", 3 << 20)
    assert a == file_bytes("k1", 3 << 20) and a != file_bytes("k2", 3 << 20)
    blocks = [a[i:i + (1 << 20)] for i in range(0, len(a), 1 << 20)]
    assert len(set(blocks)) == 3  # a resume at the wrong MiB would not match
    assert file_bytes("k1", 3 << 20, 100, 200) == a[100:200]
    assert expected_sha256("k1", 3 << 20) == hashlib.sha256(a).hexdigest()


async def test_recordings_need_a_recording_scope(http, emu):
    from tests.zoom_emulator.helpers import REDIRECT

    await emu.control.register_client("norec", "s", scopes=["meeting:write", "user:read"],
                                      redirect_uris=[REDIRECT])
    token = (await emu.control.user_token("alex@acme.test", client_id="norec",
                                          client_secret="s"))["access_token"]
    m = await create_meeting(http, bearer(token))
    await emu.control.start_meeting(m["id"])
    await emu.control.end_meeting(m["id"])
    result = await emu.control.complete_recording(m["id"], ["CHAT"])
    r = await http.get(f"/v2/meetings/{m['id']}/recordings", headers=bearer(token))
    assert r.status_code == 401 and r.json()["code"] == 4700
    r = await download(http, result["files"][0]["download_url"], token)
    assert r.headers["content-type"].startswith("text/html")


async def test_default_files_are_real_media_and_large_ones_keep_the_pattern(http, emu):
    _, result = await recorded(emu, http, ["MP4", "M4A", "TRANSCRIPT",
                                           {"file_type": "MP4", "size": 3 * (1 << 20)}])
    token = result["download_token"]
    got = {}
    for f in result["files"]:
        r = await http.get(f["download_url"], headers=bearer(token), follow_redirects=True)
        assert r.status_code == 200
        got.setdefault(f["file_type"], []).append(r.content)
    small_mp4, big_mp4 = got["MP4"]
    assert small_mp4[4:8] == b"ftyp" and b"moov" in small_mp4 and b"avc1" in small_mp4
    assert len(small_mp4) < 64 * 1024
    assert got["M4A"][0][4:8] == b"ftyp" and b"mp4a" in got["M4A"][0]
    vtt = got["TRANSCRIPT"][0].decode()
    assert vtt.startswith("WEBVTT") and "\nAlex Rivera: " in vtt and "\nSam Participant: " in vtt
    big = [f for f in result["files"] if f["size"] == 3 * (1 << 20)][0]
    assert hashlib.sha256(big_mp4).hexdigest() == expected_sha256(big["file_key"], big["size"])
    assert big_mp4[4:8] != b"ftyp"


async def test_recording_completed_lists_participant_audio_files(hooked, receiver):
    emu = hooked
    await emu.control.config(participant_audio=True)  # Zoom's account setting, off by default
    async with httpx.AsyncClient(base_url=emu.base_url) as http:
        _, result = await recorded(emu, http, ["MP4"])
        await emu.control.settle()
        [event] = [d["payload"] for d in await emu.control.deliveries("recording.completed")]
        audio = event["payload"]["object"]["participant_audio_files"]
        assert [a["file_name"] for a in audio] == [p["file_name"] for p in result["participant_files"]]
        assert len(audio) == 2 and all(a["file_type"] == "M4A" for a in audio)
        assert set(audio[0]) >= {"id", "recording_start", "recording_end", "file_name", "file_type",
                                 "file_extension", "file_size", "download_url", "status"}
        r = await http.get(audio[0]["download_url"], headers=bearer(event["download_token"]),
                           follow_redirects=True)
        assert r.status_code == 200 and r.content[4:8] == b"ftyp"
        listed = await http.get(f"/v2/meetings/{event['payload']['object']['id']}/recordings",
                                headers=await s2s_headers(emu))
        assert len(listed.json()["participant_audio_files"]) == 2
