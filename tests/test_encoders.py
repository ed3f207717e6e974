"""The encoders' parts without PyAV: Ogg pages read back into packets, libsndfile's Opus writer
(its exact bitrate, the page-latency call into soundfile's internals), MP3 frames and their
positions, and Ogg Opus's chained streams. PyAV (a test dependency) is the reference decoder."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from riffcast.delivery.codecs import MP3_DELAY_SAMPLES, Codec
from riffcast.delivery.encoders import OggOpusEncoder, StreamEncoder, mp3_frame_bytes
from riffcast.delivery.ogg import join_packets, read_pages
from riffcast.delivery.sndfile_opus import OggOpusWriter, compression_level_for

RATE = 44100


def _page(packets: list[bytes], *, continued: bool = False, ends_open: bool = False, granule: int = 0) -> bytes:
    """An Ogg page holding ``packets`` (the last one left open when ``ends_open``); CRC left 0."""
    table = []
    for number, packet in enumerate(packets):
        table += [255] * (len(packet) // 255)
        if not (ends_open and number == len(packets) - 1):
            table.append(len(packet) % 255)
    header = (b"OggS" + bytes([0, int(continued)]) + granule.to_bytes(8, "little", signed=True) + bytes(12)
              + bytes([len(table)]))
    return header + bytes(table) + b"".join(packets)


def test_pages_are_read_into_packets_across_calls_and_page_boundaries():
    long = bytes(range(256)) * 2  # 512 bytes: segments of 255, 255, 2
    stream = (_page([b"head"], granule=0) + _page([b"a" * 10, long[:510]], ends_open=True, granule=960)
              + _page([long[510:], b"b" * 300], continued=True, granule=2880))
    packets, carried, data = [], b"", b""
    for cut in range(0, len(stream), 100):  # fed in pieces, as the writer hands them
        data += stream[cut : cut + 100]
        pages, used = read_pages(data)
        data = data[used:]
        got, carried = join_packets(pages, carried)
        packets += got
    assert packets == [b"head", b"a" * 10, long, b"b" * 300] and data == b"" and carried == b""
    pages, used = read_pages(stream + stream[:30])  # and the start of a fourth page
    assert [page.granule_position for page in pages] == [0, 960, 2880] and used == len(stream)


def test_bad_pages_are_one_clear_error():
    with pytest.raises(ValueError, match="not an Ogg page at byte 0"):
        read_pages(b"RIFF" + bytes(40))
    pages, _ = read_pages(_page([b"x" * 255], ends_open=True) + _page([b"y"]))
    with pytest.raises(ValueError, match="cut off"):
        join_packets(pages)


@pytest.mark.parametrize("bit_rate", [64_000, 96_000])
def test_libsndfile_s_opus_target_is_the_bitrate_asked_exactly(bit_rate):
    writer = OggOpusWriter(bit_rate, page_latency_ms=100)
    writer.write(np.zeros(4800, np.float32))
    assert f"User changed encoding target bitrate to {bit_rate}bps" in writer.log()
    assert compression_level_for(64_000) == pytest.approx(0.768, abs=1e-5)
    with pytest.raises(ValueError, match="from 6000 to 256000"):
        compression_level_for(300_000)


def test_the_page_latency_call_into_soundfile_s_internals_works():
    """soundfile has no call for libsndfile's page latency (sndfile_opus.set_page_latency uses its
    private cffi handle): with 100 ms a second of audio fills about ten pages, with libsndfile's
    default of 1 s at most three (the close writes the rest)."""
    tone = (0.3 * np.sin(np.arange(48000) * 0.05)).astype(np.float32)
    counts = {}
    for latency_ms in (100.0, 1000.0):
        writer = OggOpusWriter(96_000, page_latency_ms=latency_ms)
        pages, _ = read_pages(writer.write(tone) + writer.close())
        counts[latency_ms] = len(pages) - 2  # the OpusHead and OpusTags pages
    assert counts[100.0] >= 8 and counts[1000.0] <= 3, counts


def test_mp3_frame_lengths_come_from_their_headers():
    assert mp3_frame_bytes(b"\xff\xfb\x90\xc4") == 417 and mp3_frame_bytes(b"\xff\xfb\x92\xc4") == 418
    with pytest.raises(ValueError, match="not an MPEG-1 Layer III"):
        mp3_frame_bytes(b"ID3\x04")


def test_an_mp3_packet_decodes_to_the_audio_at_its_position():
    signal = np.zeros(3 * RATE, dtype=np.float32)
    click_at = 50_000
    signal[click_at : click_at + 30] = np.hanning(30).astype(np.float32)
    encoder, packets = StreamEncoder(Codec.MP3), []
    for offset in range(0, signal.size, 4410):
        packets += encoder.encode(10_000 + offset, signal[offset : offset + 4410])
    assert packets[0].position == 10_000 - MP3_DELAY_SAMPLES
    assert {b.position - a.position for a, b in zip(packets, packets[1:])} == {1152}
    decoder = av.CodecContext.create("mp3float", "r")
    decoded = np.concatenate([frame.to_ndarray().reshape(-1) for packet in packets
                              for frame in decoder.decode(av.Packet(packet.data))])
    heard_position = packets[0].position + int(np.argmax(np.abs(decoded)))
    assert abs(heard_position - (10_000 + click_at + 15)) <= 2


def test_ogg_opus_chains_a_titled_stream_at_each_retitle():
    encoder = OggOpusEncoder(title="calm piano")
    tone = (0.3 * np.sin(np.arange(2 * RATE) * 0.05)).astype(np.float32)
    packets = []
    for offset in range(0, tone.size, 4410):
        packets += encoder.encode(offset, tone[offset : offset + 4410])
    packets += encoder.retitle("steel drums", tone.size)
    for offset in range(0, tone.size, 4410):
        packets += encoder.encode(tone.size + offset, tone[offset : offset + 4410])
    assert [packet.starts_stream for packet in packets].count(True) == 2 and packets[0].starts_stream
    data = b"".join(packet.data for packet in packets)
    pages, used = read_pages(data)
    assert used == len(data)
    tags = [page.packets[0] for page in pages if page.packets and page.packets[0].startswith(b"OpusTags")]
    assert [b"TITLE=calm piano" in tags[0], b"TITLE=steel drums" in tags[1]] == [True, True]
    audio_pages = [page.granule_position for page in pages[2:20] if not page.packets[0].startswith(b"Opus")]
    assert 4800 <= np.median(np.diff(audio_pages)) <= 5760  # pages of about 100 ms (5 or 6 packets)
    with av.open(io.BytesIO(data), "r", format="ogg") as container:
        decoded = np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)])
    assert decoded.size >= 48000 * (2 + 1.7)  # both streams decode (the second's last pages are still to come)
