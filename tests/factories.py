"""Objects and generated audio for tests. No audio is committed: it is made here."""

import hashlib
import io
from pathlib import Path

import numpy as np
import soundfile as sf
from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from catalog.models import Dataset, Track

FORMAT_EXTENSIONS = {"WAV": "wav", "FLAC": "flac", "OGG": "ogg", "MP3": "mp3"}


def tone(seconds=2.0, freq=440.0, sample_rate=22050, channels=1, amplitude=0.3):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    mono = amplitude * np.sin(2 * np.pi * freq * t)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


def noise(seconds=2.0, sample_rate=22050, seed=0):
    return 0.1 * np.random.default_rng(seed).standard_normal(int(seconds * sample_rate))


def audio_bytes(signal=None, sample_rate=22050, fmt="WAV"):
    """Encoded audio bytes (WAV/FLAC/OGG/MP3) of a signal, a 2 s tone by default."""
    signal = tone(sample_rate=sample_rate) if signal is None else signal
    buffer = io.BytesIO()
    sf.write(buffer, signal, sample_rate, format=fmt)
    return buffer.getvalue()


def write_audio(path, signal=None, sample_rate=22050, fmt=None):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = fmt or {v: k for k, v in FORMAT_EXTENSIONS.items()}[path.suffix.lstrip(".").lower()]
    path.write_bytes(audio_bytes(signal, sample_rate, fmt))
    return path


def make_dataset(name="Uploads", slug=None, **fields):
    return Dataset.objects.create(name=name, slug=slug or name.lower().replace(" ", "-"), **fields)


def make_track(dataset=None, data=None, title="A tone", **fields):
    """A ready-to-stream track stored in the default storage, bypassing intake checks."""
    dataset = dataset or make_dataset()
    data = audio_bytes() if data is None else data
    info = sf.info(io.BytesIO(data))
    sha = hashlib.sha256(data).hexdigest()
    name = default_storage.save(f"audio/{sha[:2]}/{sha}.wav", ContentFile(data))
    defaults = dict(
        audio_path=name,
        sha256=sha,
        duration=info.duration,
        sample_rate=info.samplerate,
        channels=info.channels,
        format="WAV",
        size_bytes=len(data),
    )
    return Track.objects.create(dataset=dataset, title=title, **{**defaults, **fields})


def make_user(username="listener", *, staff=False, curator=False, superuser=False):
    user = User.objects.create_user(username, password="pw-" + username, is_staff=staff or superuser)
    user.is_superuser = superuser
    user.save()
    if curator:
        user.groups.add(Group.objects.get(name="Curators"))
    return user


def token_for(user):
    return Token.objects.get_or_create(user=user)[0].key


def client_for(user=None):
    """An API client authenticated by token, as third parties are; anonymous without a user."""
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


def upload_tone(dataset, name, seconds=12.0, seed=0):
    """An uploaded tone-plus-noise track (its extraction queued on commit)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from catalog.intake import ingest_upload

    signal = tone(seconds=seconds, freq=220 + 50 * seed) + noise(seconds=seconds, seed=seed)
    return ingest_upload(dataset, SimpleUploadedFile(name, audio_bytes(signal)))


def run_queued_extraction(track):
    """Run the track's latest extraction job here (the model code, so torch, needed)."""
    from analysis.extraction import run_extraction_job
    from analysis.models import ExtractionJob

    job = ExtractionJob.objects.filter(track=track).latest("created_at")
    return run_extraction_job(job.pk, worker="in-process")


def write_midi(path, notes, pedal, bpm=100):
    """notes: (onset s, duration s, velocity); pedal: (seconds, value). At `bpm`, so
    seconds depend on the tempo map."""
    import mido

    ticks_per_beat = 480
    tempo = mido.bpm2tempo(bpm)
    events = [(t, mido.Message("note_on", note=60, velocity=v)) for t, _, v in notes]
    events += [(t + d, mido.Message("note_off", note=60, velocity=0)) for t, d, _ in notes]
    events += [(t, mido.Message("control_change", control=64, value=v)) for t, v in pedal]
    midi_track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo)])
    now = 0
    for seconds, message in sorted(events, key=lambda event: event[0]):
        tick = round(mido.second2tick(seconds, ticks_per_beat, tempo))
        midi_track.append(message.copy(time=tick - now))
        now = tick
    midi = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    midi.tracks.append(midi_track)
    midi.save(path)
    return path


def curator_client():
    """An API client signed in with a curator's token."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(make_user('curator', staff=True, curator=True))}")
    return client


def assert_json_error(response, status, code):
    """`response` is the API's error shape with this status and code, and a message."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (status, code)
    assert error["message"]
    return error
