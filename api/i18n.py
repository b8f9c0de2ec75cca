"""The status page's two languages, English and Indonesian, and choosing one for a request."""

from __future__ import annotations

__all__ = ["LANGUAGES", "choose_language", "text"]

LANGUAGES = ("en", "id")

_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "City status",
        "updated_at": "Updated",
        "refresh": "This page refreshes every {s} s.",
        "map": "Map of the districts",
        "districts": "Districts",
        "air": "Air (PM2.5)",
        "water": "River level",
        "noise": "Noise",
        "open_tickets": "Open tickets",
        "n_open": "{n} open tickets",
        "n_open_one": "1 open ticket",
        "no_open": "No open tickets",
        "no_sensor": "no sensor",
        "sensors": "{n} sensors",
        "tickets": "Tickets the city opened",
        "no_tickets": "No tickets: nothing needs the city's attention right now.",
        "no_districts": "No sensors have reported yet.",
        "expected": "expected completion",
        "legend": "Colours",
        "data": "Open data",
        "language": "Bahasa Indonesia",
        # categories
        "good": "Good",
        "moderate": "Moderate",
        "unhealthy_for_sensitive_groups": "Unhealthy for sensitive groups",
        "unhealthy": "Unhealthy",
        "very_unhealthy": "Very unhealthy",
        "hazardous": "Hazardous",
        "normal": "Normal",
        "alert": "Alert",
        "warning": "Warning",
        "danger": "Danger",
        "extreme": "Severe flooding",
        "averaging_latest": "latest readings",
        "averaging_24h": "24-hour average",
        "averaging_nowcast_12h": "NowCast (last 12 hours)",
        "quiet": "Quiet",
        "loud": "Loud",
        "very_loud": "Very loud",
        "unknown": "No data",
        # ticket states and steps
        "open": "Open",
        "acknowledged": "Acknowledged",
        "assigned": "Crew assigned",
        "resolved": "Resolved",
        "opened": "Opened",
        "updated": "Update",
        "reopened": "Reopened",
        "comment": "Note",
        "reported": "Reported by a resident",
    },
    "id": {
        "title": "Status kota",
        "updated_at": "Diperbarui",
        "refresh": "Halaman ini diperbarui setiap {s} detik.",
        "map": "Peta kecamatan",
        "districts": "Kecamatan",
        "air": "Udara (PM2.5)",
        "water": "Tinggi muka air",
        "noise": "Kebisingan",
        "open_tickets": "Tiket terbuka",
        "n_open": "{n} tiket terbuka",
        "n_open_one": "1 tiket terbuka",
        "no_open": "Tidak ada tiket terbuka",
        "no_sensor": "tidak ada sensor",
        "sensors": "{n} sensor",
        "tickets": "Tiket yang dibuka kota",
        "no_tickets": "Tidak ada tiket: saat ini tidak ada yang perlu ditangani kota.",
        "no_districts": "Belum ada sensor yang melapor.",
        "expected": "perkiraan selesai",
        "legend": "Warna",
        "data": "Data terbuka",
        "language": "English",
        "good": "Baik",
        "moderate": "Sedang",
        "unhealthy_for_sensitive_groups": "Tidak sehat bagi kelompok sensitif",
        "unhealthy": "Tidak sehat",
        "very_unhealthy": "Sangat tidak sehat",
        "hazardous": "Berbahaya",
        "normal": "Normal",
        "alert": "Waspada",
        "warning": "Siaga",
        "danger": "Awas",
        "extreme": "Banjir besar",
        "averaging_latest": "pembacaan terbaru",
        "averaging_24h": "rata-rata 24 jam",
        "averaging_nowcast_12h": "NowCast (12 jam terakhir)",
        "quiet": "Tenang",
        "loud": "Bising",
        "very_loud": "Sangat bising",
        "unknown": "Tidak ada data",
        "open": "Terbuka",
        "acknowledged": "Diterima",
        "assigned": "Petugas ditugaskan",
        "resolved": "Selesai",
        "opened": "Dibuka",
        "updated": "Pembaruan",
        "reopened": "Dibuka kembali",
        "comment": "Catatan",
        "reported": "Dilaporkan warga",
    },
}


def text(language: str) -> dict[str, str]:
    return _TEXT[language if language in _TEXT else "en"]


def choose_language(query: str | None, accept_language: str | None) -> str:
    """`?lang=` wins; otherwise the browser's Accept-Language preference; English by default."""
    if query in LANGUAGES:
        return query
    best, best_q = "en", -1.0
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        # Earlier entries win ties, as browsers list them in order of preference.
        score = q - position * 1e-6
        if primary in LANGUAGES and score > best_q:
            best, best_q = primary, score
    return best
