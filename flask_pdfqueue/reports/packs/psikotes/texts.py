"""Interpretation texts of the default report, per scale: content, kept apart from logic.

Each scale key of a ``results`` entry maps to what the scale measures, what a
low, average or high result means, and what to do with a strength. Unknown
scale keys fall back to :data:`GENERIC_SCALE`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScaleText:
    """What a scale measures, what each band means, and what to do with a strength.

    Texts may use ``{name}`` (the participant's first name).
    """

    group: str
    about: str
    low: str
    average: str
    high: str
    advice: str


GENERIC_SCALE = ScaleText(
    group="Other",
    about="This scale describes one aspect of the participant's test performance.",
    low="{name}'s result is below most people in the reference group; this area is "
    "likely to need more time, support or practice than others.",
    average="{name}'s result is in the range of most people in the reference group, "
    "which is sufficient for everyday demands in this area.",
    high="{name}'s result is above most people in the reference group and can be "
    "treated as a resource when planning study or work.",
    advice="Discuss how this strength can be used in the next study or career step.",
)

SCALES: dict[str, ScaleText] = {
    "verbal_reasoning": ScaleText(
        "Aptitude",
        "Verbal Reasoning measures how well a person understands written information, "
        "sees relationships between words and draws logical conclusions from text.",
        "{name} needs more time than peers to extract the main point of longer texts and "
        "may misread instructions that are worded in a complicated way. Short, clearly "
        "structured material and regular reading practice will help.",
        "{name} understands everyday written material well and can follow a reasoned "
        "argument. Highly abstract or technical texts may require a second reading.",
        "{name} grasps written arguments quickly, notices fine differences in meaning and "
        "expresses ideas precisely. Tasks involving reading, writing and argument suit "
        "{name} well.",
        "Fields such as law, communication, languages, journalism or teaching make good "
        "use of strong verbal reasoning.",
    ),
    "numerical_reasoning": ScaleText(
        "Aptitude",
        "Numerical Reasoning measures the ability to work with numbers, percentages and "
        "tables and to reason about quantitative information.",
        "{name} finds calculations and number-based problems demanding and tends to make "
        "errors under time pressure. Step-by-step methods and practice with real "
        "examples are recommended.",
        "{name} handles routine calculations and simple tables reliably. More complex "
        "multi-step problems are solvable but take noticeably more effort.",
        "{name} works confidently with numbers, spots trends in data quickly and solves "
        "multi-step quantitative problems accurately.",
        "Accounting, economics, engineering, data analysis and the natural sciences "
        "reward strong numerical reasoning.",
    ),
    "abstract_reasoning": ScaleText(
        "Aptitude",
        "Abstract Reasoning measures the ability to recognise patterns and rules in "
        "unfamiliar, non-verbal material; it is closely related to general learning ability.",
        "{name} prefers concrete, familiar tasks and may struggle when a new problem has "
        "no clear example to follow. Worked examples make learning easier.",
        "{name} can identify rules in new material at a pace comparable to peers and "
        "learns new procedures without special difficulty.",
        "{name} quickly discovers underlying rules in unfamiliar problems and is likely "
        "to learn new systems and concepts faster than most peers.",
        "Strong abstract reasoning supports programmes such as computer science, "
        "mathematics, research and strategy roles.",
    ),
    "spatial_ability": ScaleText(
        "Aptitude",
        "Spatial Ability measures how well a person can imagine and mentally rotate "
        "shapes and objects in two and three dimensions.",
        "{name} finds it hard to picture objects from different viewpoints; drawings, "
        "maps and technical diagrams may take extra time to interpret.",
        "{name} can interpret drawings, maps and diagrams adequately for most everyday "
        "and study purposes.",
        "{name} visualises shapes and spatial relations easily, which is valuable for "
        "design, construction and technical drawing.",
        "Architecture, engineering, interior design, surveying and visual arts make use "
        "of strong spatial ability.",
    ),
    "mechanical_reasoning": ScaleText(
        "Aptitude",
        "Mechanical Reasoning measures understanding of basic physical and mechanical "
        "principles such as levers, gears, pressure and motion.",
        "{name} has limited intuitive understanding of how machines and physical systems "
        "work; practical, hands-on explanation is more effective than theory.",
        "{name} understands common mechanical principles at the level expected of peers.",
        "{name} readily understands how mechanical and physical systems work and can "
        "reason about cause and effect in technical settings.",
        "Mechanical, electrical or civil engineering, vocational technology and "
        "maintenance roles suit strong mechanical reasoning.",
    ),
    "clerical_accuracy": ScaleText(
        "Aptitude",
        "Clerical Speed & Accuracy measures how quickly and accurately a person can "
        "check, compare and sort detailed information.",
        "{name} tends to overlook small details when working fast; checklists and "
        "double-checking routines are advisable for administrative work.",
        "{name} checks and compares information with reasonable speed and accuracy.",
        "{name} processes detailed information quickly with very few errors, a clear "
        "asset for administrative and data-handling tasks.",
        "Administration, banking operations, quality control and data management benefit "
        "from high clerical speed and accuracy.",
    ),
    "interest_realistic": ScaleText(
        "Interest",
        "Realistic Interest reflects enjoyment of practical, hands-on activities with "
        "tools, machines, plants or animals.",
        "{name} shows little interest in practical, physical or technical work and is "
        "unlikely to find such activities motivating.",
        "{name} has a moderate interest in practical activities and may enjoy them as "
        "part of a broader role.",
        "{name} clearly enjoys practical, tangible work and seeing concrete results of "
        "their own effort.",
        "Consider technical, agricultural, engineering or vocational study paths with "
        "plenty of practical work.",
    ),
    "interest_investigative": ScaleText(
        "Interest",
        "Investigative Interest reflects curiosity about how things work and enjoyment of "
        "analysing, researching and solving intellectual problems.",
        "{name} prefers action and people over analysis and research and may lose "
        "motivation in long theoretical study.",
        "{name} enjoys analysing problems from time to time, especially when the result "
        "has a practical use.",
        "{name} is strongly drawn to questions of why and how, and enjoys research, "
        "experiments and solving complex problems.",
        "Science, medicine, pharmacy, information technology and research-oriented "
        "programmes match a strong investigative interest.",
    ),
    "interest_artistic": ScaleText(
        "Interest",
        "Artistic Interest reflects enjoyment of creative self-expression through art, "
        "music, writing, design or performance.",
        "{name} prefers clear structures and practical goals over open-ended creative work.",
        "{name} appreciates creative activities and may enjoy them as a hobby or a part "
        "of the job.",
        "{name} is strongly motivated by creative work and values freedom to express "
        "original ideas.",
        "Visual communication design, architecture, music, creative writing and media "
        "production fit a strong artistic interest.",
    ),
    "interest_social": ScaleText(
        "Interest",
        "Social Interest reflects enjoyment of helping, teaching, advising and caring "
        "for other people.",
        "{name} is more comfortable working with things or information than in roles "
        "centred on helping or teaching others.",
        "{name} enjoys working with people in a cooperative setting without needing "
        "helping others to be the core of the job.",
        "{name} is strongly motivated by contact with people and by helping others learn, "
        "grow or recover.",
        "Education, psychology, nursing, social work and human resources suit a strong "
        "social interest.",
    ),
    "interest_enterprising": ScaleText(
        "Interest",
        "Enterprising Interest reflects enjoyment of leading, persuading, selling and "
        "taking initiative in business settings.",
        "{name} shows little desire to lead, persuade or compete and may prefer roles "
        "with clear guidance.",
        "{name} is willing to take the lead when needed but does not seek influence for "
        "its own sake.",
        "{name} enjoys taking initiative, influencing others and pursuing ambitious goals.",
        "Management, entrepreneurship, marketing, sales and law suit a strong "
        "enterprising interest.",
    ),
    "interest_conventional": ScaleText(
        "Interest",
        "Conventional Interest reflects enjoyment of orderly, well-structured work with "
        "data, records and clear procedures.",
        "{name} finds routine, rule-bound work unattractive and prefers variety and "
        "freedom in how tasks are done.",
        "{name} is comfortable with structured work and clear procedures for part of the time.",
        "{name} values order, accuracy and clear procedures and enjoys keeping "
        "information well organised.",
        "Accounting, office administration, banking, logistics and library science "
        "match a strong conventional interest.",
    ),
    "openness": ScaleText(
        "Personality",
        "Openness to Experience describes curiosity, imagination and willingness to try "
        "new ideas and approaches.",
        "{name} prefers the familiar and practical, values proven methods and may be "
        "sceptical of changes that have not been tested.",
        "{name} balances curiosity with practicality, trying new approaches when their "
        "benefit is clear.",
        "{name} is curious, imaginative and enjoys new ideas, experiences and "
        "unconventional solutions.",
        "Roles involving innovation, research, design or strategy make good use of high openness.",
    ),
    "conscientiousness": ScaleText(
        "Personality",
        "Conscientiousness describes self-discipline, organisation, reliability and "
        "persistence towards goals.",
        "{name} tends to work spontaneously and may postpone tasks or overlook plans; "
        "external structure and deadlines are helpful.",
        "{name} is reasonably organised and dependable, with room to plan further ahead "
        "on larger tasks.",
        "{name} is well organised, dependable and persistent, and usually finishes what "
        "they start to a high standard.",
        "High conscientiousness is valuable in almost every role, especially project "
        "management, finance and quality assurance.",
    ),
    "extraversion": ScaleText(
        "Personality",
        "Extraversion describes sociability, assertiveness and the energy a person draws "
        "from contact with others.",
        "{name} is reserved, prefers small groups or working alone and needs quiet time "
        "to recharge.",
        "{name} is comfortable both in company and alone, adapting to what the situation requires.",
        "{name} is sociable, talkative and energised by people, and takes the floor "
        "easily in groups.",
        "Sales, public relations, teaching and leadership roles benefit from high extraversion.",
    ),
    "agreeableness": ScaleText(
        "Personality",
        "Agreeableness describes warmth, cooperation, trust and consideration for others.",
        "{name} is direct and competitive and says what they think, which can be read as "
        "critical in teamwork.",
        "{name} is cooperative while still able to stand their ground when needed.",
        "{name} is warm, considerate and cooperative, and works to keep relationships harmonious.",
        "Service, counselling, health care and team-based roles suit high agreeableness.",
    ),
    "emotional_stability": ScaleText(
        "Personality",
        "Emotional Stability describes calmness, resilience under pressure and freedom "
        "from persistent worry.",
        "{name} reacts strongly to stress and setbacks; a supportive environment and "
        "stress-management strategies are recommended.",
        "{name} copes with everyday pressure adequately, though prolonged stress may "
        "affect mood and concentration.",
        "{name} stays calm and composed under pressure and recovers quickly from setbacks.",
        "High emotional stability supports demanding roles such as emergency services, "
        "operations and leadership.",
    ),
    "achievement_orientation": ScaleText(
        "Work Style",
        "Achievement Orientation describes the drive to set challenging goals and to "
        "keep improving one's own performance.",
        "{name} is content with meeting expectations and is not strongly driven by "
        "competition or ambitious targets.",
        "{name} sets realistic goals and works steadily towards them.",
        "{name} sets high standards, seeks challenges and is motivated by visible progress.",
        "Goal-driven environments such as sales, consulting and entrepreneurship reward "
        "strong achievement orientation.",
    ),
    "adaptability": ScaleText(
        "Work Style",
        "Adaptability describes how easily a person adjusts to change, new situations "
        "and unexpected demands.",
        "{name} prefers stability and may need time and clear explanations to adjust "
        "when plans change.",
        "{name} adapts to most changes adequately once the reasons are clear.",
        "{name} adjusts quickly to new situations and remains effective when plans change.",
        "Fast-changing fields such as technology, hospitality and project work suit "
        "high adaptability.",
    ),
}
