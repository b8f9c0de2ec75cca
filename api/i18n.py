"""The status page's two languages, English and Indonesian, and choosing one for a request."""

from __future__ import annotations

__all__ = ["LANGUAGES", "choose_language", "display_unit", "text"]

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

# The ticket, report and district pages (issue 17).
_TEXT["en"].update(
    {
        "skip": "Skip to content",
        "home": "City status",
        "live_note": "This page updates itself while the ticket is open.",
        "status_live": "This page updates itself.",
        "ticket": "Ticket",
        "what": "What",
        "where": "Where",
        "agency": "Responsible agency",
        "state": "Status",
        "severity": "Severity",
        "timeline": "Timeline",
        "evidence": "Readings that raised this ticket",
        "limit": "limit",
        "no_expected": "not set yet",
        "opened_by_sensor": "Opened by a city sensor",
        "opened_by_resident": "Reported by a resident",
        "photo": "Photo",
        "photo_pending": "A photo was sent; it is shown once the city has checked it.",
        "report": "Report a problem",
        "report_intro": "Tell the city about a problem. Fields marked * are required.",
        "service": "What is the problem?",
        "location": "Where is it?",
        "location_help": "Tap the map to place a pin, or type an address or landmark.",
        "lat": "Latitude",
        "long": "Longitude",
        "address": "Address or landmark",
        "description": "Describe the problem",
        "photo_field": "Photo (optional, JPEG or PNG, up to 5 MB)",
        "photo_help": "Location and camera details are removed from the photo before it is stored.",
        "contact": "Contact details (optional, never shown publicly)",
        "email": "Email",
        "phone": "Phone",
        "first_name": "First name",
        "last_name": "Last name",
        "send": "Send report",
        "sent": "Thank you: your report is ticket #{n}.",
        "follow": "Follow it on its page",
        "error": "The report could not be sent",
        "trend_24h": "last 24 hours",
        "trend_7d": "Last 7 days",
        "district_page": "7-day trends",
        "now": "now",
        "bands": "Categories",
        "no_data_7d": "No readings in the last 7 days.",
        "feeds": "Subscribe",
        "tickets_feed": "Tickets (Atom)",
        "alerts_feed": "Warnings (Atom, CAP 1.2)",
        "required": "required",
    }
)
_TEXT["id"].update(
    {
        "skip": "Langsung ke isi",
        "home": "Status kota",
        "live_note": "Halaman ini memperbarui dirinya selama tiket masih terbuka.",
        "status_live": "Halaman ini memperbarui dirinya.",
        "ticket": "Tiket",
        "what": "Apa",
        "where": "Di mana",
        "agency": "Instansi penanggung jawab",
        "state": "Status",
        "severity": "Tingkat",
        "timeline": "Riwayat",
        "evidence": "Pembacaan yang membuka tiket ini",
        "limit": "batas",
        "no_expected": "belum ditetapkan",
        "opened_by_sensor": "Dibuka oleh sensor kota",
        "opened_by_resident": "Dilaporkan warga",
        "photo": "Foto",
        "photo_pending": "Foto sudah dikirim; foto ditampilkan setelah diperiksa kota.",
        "report": "Laporkan masalah",
        "report_intro": "Beri tahu kota tentang masalah. Isian bertanda * wajib diisi.",
        "service": "Apa masalahnya?",
        "location": "Di mana lokasinya?",
        "location_help": "Ketuk peta untuk menandai lokasi, atau ketik alamat atau patokan.",
        "lat": "Lintang",
        "long": "Bujur",
        "address": "Alamat atau patokan",
        "description": "Jelaskan masalahnya",
        "photo_field": "Foto (opsional, JPEG atau PNG, maksimal 5 MB)",
        "photo_help": "Data lokasi dan kamera dihapus dari foto sebelum disimpan.",
        "contact": "Kontak (opsional, tidak pernah ditampilkan publik)",
        "email": "Email",
        "phone": "Telepon",
        "first_name": "Nama depan",
        "last_name": "Nama belakang",
        "send": "Kirim laporan",
        "sent": "Terima kasih: laporan Anda adalah tiket #{n}.",
        "follow": "Ikuti di halamannya",
        "error": "Laporan tidak dapat dikirim",
        "trend_24h": "24 jam terakhir",
        "trend_7d": "7 hari terakhir",
        "district_page": "Tren 7 hari",
        "now": "sekarang",
        "bands": "Kategori",
        "no_data_7d": "Tidak ada pembacaan dalam 7 hari terakhir.",
        "feeds": "Berlangganan",
        "tickets_feed": "Tiket (Atom)",
        "alerts_feed": "Peringatan (Atom, CAP 1.2)",
        "required": "wajib",
    }
)


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


_UNITS = {"ug/m3": "µg/m³", "Cel": "°C", "%RH": "% RH", "count": ""}


def display_unit(unit: str) -> str:
    """A SenML unit as people write it: ug/m3 is µg/m³, Cel is °C."""
    return _UNITS.get(unit, unit)
