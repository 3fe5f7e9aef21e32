"""The pack's sample documents, so a fresh install can render a real report at once.

They have the ``workflow.psikotes_v2`` shape :mod:`.context` reads; ``flask pdfqueue
seed-demo`` inserts them, and a worker renders the first to warm up.
"""

from __future__ import annotations

import copy
from typing import Any

DEMO_PRODUCT_ID = "minatBakatUmum"
PERSONALITY_PRODUCT_ID = "kepribadianDasar"

_MINAT_BAKAT_SCALES = (
    ("verbal_reasoning", "Verbal Reasoning", 40),
    ("numerical_reasoning", "Numerical Reasoning", 40),
    ("abstract_reasoning", "Abstract Reasoning", 40),
    ("spatial_ability", "Spatial Ability", 30),
    ("mechanical_reasoning", "Mechanical Reasoning", 30),
    ("clerical_accuracy", "Clerical Speed & Accuracy", 50),
    ("interest_realistic", "Realistic Interest", 30),
    ("interest_investigative", "Investigative Interest", 30),
    ("interest_artistic", "Artistic Interest", 30),
    ("interest_social", "Social Interest", 30),
    ("interest_enterprising", "Enterprising Interest", 30),
    ("interest_conventional", "Conventional Interest", 30),
)
_KEPRIBADIAN_SCALES = (
    ("openness", "Openness to Experience", 50),
    ("conscientiousness", "Conscientiousness", 50),
    ("extraversion", "Extraversion", 50),
    ("agreeableness", "Agreeableness", 50),
    ("emotional_stability", "Emotional Stability", 50),
    ("achievement_orientation", "Achievement Orientation", 40),
    ("adaptability", "Adaptability", 40),
)
_VERSIONS = {DEMO_PRODUCT_ID: "MBU-2.3", PERSONALITY_PRODUCT_ID: "KD-1.4"}
_PURPOSES = {
    DEMO_PRODUCT_ID: "Study and career guidance",
    PERSONALITY_PRODUCT_ID: "Personal development and placement",
}
_PSYCHOLOGIST = "Dra. Ratna Kusumawati, M.Psi., Psikolog (SIPP 0219-18-2-1)"

# (code, product_id, participant, test_date, scores in the product's scale order)
_PEOPLE: tuple[tuple[str, str, dict[str, str], str, tuple[int, ...]], ...] = (
    ("DEMO-001", DEMO_PRODUCT_ID,
     {"name": "Rina Wulandari", "email": "rina.wulandari@example.com",
      "birth_date": "2007-04-18", "gender": "female",
      "education": "SMA, Grade 12 (Science)", "institution": "SMA Negeri 3 Bandung"},
     "2025-02-11T08:30:00+07:00", (35, 27, 29, 16, 11, 36, 9, 21, 26, 28, 17, 12)),
    ("DEMO-002", DEMO_PRODUCT_ID,
     {"name": "Budi Santoso", "email": "budi.santoso@example.com",
      "birth_date": "2006-11-02", "gender": "male",
      "education": "SMK, Grade 12 (Mechanical Engineering)",
      "institution": "SMK Negeri 2 Surabaya"},
     "2025-02-12T08:30:00+07:00", (18, 24, 26, 26, 27, 30, 27, 19, 8, 11, 14, 16)),
    ("DEMO-003", DEMO_PRODUCT_ID,
     {"name": "Siti Nurhaliza Rahmawati", "email": "siti.rahmawati@example.com",
      "birth_date": "2003-07-25", "gender": "female",
      "education": "S1 Accounting (5th semester)", "institution": "Universitas Gadjah Mada"},
     "2025-03-04T09:00:00+07:00", (28, 36, 30, 17, 14, 46, 10, 18, 9, 16, 19, 28)),
    ("DEMO-004", DEMO_PRODUCT_ID,
     {"name": "I Made Arya Wiguna", "email": "arya.wiguna@example.com",
      "birth_date": "2007-01-30", "gender": "male",
      "education": "SMA, Grade 12 (Social Studies)", "institution": "SMA Negeri 1 Denpasar"},
     "2025-03-05T09:00:00+08:00", (27, 19, 21, 14, 13, 24, 13, 12, 18, 20, 27, 15)),
    ("DEMO-005", DEMO_PRODUCT_ID,
     {"name": "Dewi Lestari Putri", "email": "dewi.putri@example.com",
      "birth_date": "2008-09-09", "gender": "female",
      "education": "SMA, Grade 11 (Science)", "institution": "SMA Negeri 8 Jakarta"},
     "2025-03-06T13:00:00+07:00", (31, 37, 38, 24, 19, 33, 5, 29, 15, 13, 11, 14)),
    ("DEMO-006", PERSONALITY_PRODUCT_ID,
     {"name": "Andi Pratama Nugroho", "email": "andi.nugroho@example.com",
      "birth_date": "1996-05-14", "gender": "male",
      "education": "S1 Informatics", "institution": "PT Sinar Digital Nusantara"},
     "2025-01-20T10:00:00+07:00", (41, 36, 18, 30, 33, 31, 29)),
    ("DEMO-007", PERSONALITY_PRODUCT_ID,
     {"name": "Putu Ayu Maharani", "email": "ayu.maharani@example.com",
      "birth_date": "1999-12-03", "gender": "female",
      "education": "D3 Nursing", "institution": "RSUP Prof. Ngoerah, Denpasar"},
     "2025-01-21T10:00:00+08:00", (29, 43, 35, 46, 22, 24, 27)),
    ("DEMO-008", PERSONALITY_PRODUCT_ID,
     {"name": "Yohanes Kurniawan", "email": "yohanes.kurniawan@example.com",
      "birth_date": "1988-08-27", "gender": "male",
      "education": "S2 Management", "institution": "Bank Mandiri, Regional Office Semarang"},
     "2025-01-22T14:00:00+07:00", (24, 45, 44, 19, 42, 37, 16)),
    # The same person can take several tests: documents are keyed by (code, product_id).
    ("DEMO-001", PERSONALITY_PRODUCT_ID,
     {"name": "Rina Wulandari", "email": "rina.wulandari@example.com",
      "birth_date": "2007-04-18", "gender": "female",
      "education": "SMA, Grade 12 (Science)", "institution": "SMA Negeri 3 Bandung"},
     "2025-02-11T10:45:00+07:00", (44, 31, 38, 42, 27, 28, 33)),
)  # fmt: skip


def sample_documents() -> list[dict[str, Any]]:
    """Return fresh demo documents; callers may mutate them freely."""
    documents = []
    for code, product_id, participant, test_date, scores in _PEOPLE:
        scales = _MINAT_BAKAT_SCALES if product_id == DEMO_PRODUCT_ID else _KEPRIBADIAN_SCALES
        documents.append(
            {
                "code": code,
                "product_id": product_id,
                "test_version": _VERSIONS[product_id],
                "purpose": _PURPOSES[product_id],
                "psychologist": _PSYCHOLOGIST,
                "participant": copy.deepcopy(participant),
                "test_date": test_date,
                "results": [
                    {"scale": key, "name": name, "score": score, "max_score": max_score}
                    for (key, name, max_score), score in zip(scales, scores, strict=True)
                ],
            }
        )
    return documents
