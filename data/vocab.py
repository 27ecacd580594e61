"""The ledger's fixed words: codes stored in the database and their Chinese and English labels."""
from __future__ import annotations

from types import MappingProxyType

# code -> (中文, English). Codes are what the database stores; the migration
# that created each CHECK constraint holds its own frozen copy of the codes.

LEVELS = MappingProxyType({
    "district": ("区", "district"),
    "street": ("街道", "street"),
    "community": ("社区", "community"),
    "cell": ("网格", "cell"),
})
LEVEL_DEPTH = MappingProxyType({"district": 1, "street": 2, "community": 3, "cell": 4})
HANDLING_LEVELS = ("grid", "community", "street", "district")

GRID_KINDS = MappingProxyType({"regular": ("常规网格", "regular"), "dedicated": ("专属网格", "dedicated")})
DEDICATED_FOR = MappingProxyType({
    "school": ("学校", "school"),
    "hospital": ("医院", "hospital"),
    "market": ("市场", "market"),
    "industrial_park": ("园区", "industrial park"),
})

PERSON_TAGS = MappingProxyType({
    # identity (身份)
    "party_member": ("党员", "party member", "identity"),
    "veteran": ("退役军人", "veteran", "identity"),
    "floating": ("流动人口", "floating population", "identity"),
    "overseas": ("境外人员", "overseas resident", "identity"),
    # service (服务)
    "elderly_alone": ("独居老人", "elderly living alone", "service"),
    "subsistence": ("低保", "subsistence allowance", "service"),
    "disabled": ("残疾人", "disabled", "service"),
    "left_behind_child": ("留守儿童", "left-behind child", "service"),
    "serious_illness": ("大病", "serious illness", "service"),
    # behavior (行为) — the key-person families
    "community_correction": ("社区矫正", "community correction", "behavior"),
    "released_prisoner": ("刑满释放", "released prisoner", "behavior"),
    "drug_rehab": ("社区戒毒", "drug rehabilitation", "behavior"),
    "mental_illness": ("严重精神障碍", "severe mental disorder", "behavior"),
    "petitioner": ("重点信访", "persistent petitioner", "behavior"),
})
KEY_PERSON_TAGS = frozenset(code for code, (_, _, fam) in PERSON_TAGS.items() if fam == "behavior")

RELATIONS = MappingProxyType({
    "head": ("户主", "head"), "spouse": ("配偶", "spouse"), "child": ("子女", "child"),
    "parent": ("父母", "parent"), "grandchild": ("孙辈", "grandchild"), "other": ("其他", "other"),
})

HOUSE_KINDS = MappingProxyType({
    "residential": ("住宅", "residential"), "rental": ("出租房", "rental"),
    "bungalow": ("平房", "bungalow"), "mixed": ("商住", "mixed use"),
})

PLACE_KINDS = MappingProxyType({
    "school": ("学校", "school"), "kindergarten": ("幼儿园", "kindergarten"),
    "clinic": ("卫生服务站", "clinic"), "hospital": ("医院", "hospital"),
    "elderly_care": ("养老服务站", "elderly care"), "market": ("农贸市场", "market"),
    "party_center": ("党群服务中心", "party-mass service center"),
    "construction_site": ("建筑工地", "construction site"), "rental_housing": ("出租屋", "rental housing"),
    "restaurant": ("餐饮店", "restaurant"), "internet_cafe": ("网吧", "internet café"),
    "gas_station": ("加油站", "gas station"), "hazmat_store": ("危化品存储点", "hazardous materials store"),
    "park": ("公园", "park"), "religious": ("宗教场所", "religious site"),
})
KEY_PLACE_KINDS = frozenset({"construction_site", "internet_cafe", "gas_station", "hazmat_store", "rental_housing"})

THING_KINDS = MappingProxyType({
    "hydrant": ("消防栓", "fire hydrant"), "camera": ("监控摄像头", "camera"), "aed": ("AED除颤仪", "AED"),
    "manhole": ("井盖", "manhole"), "streetlight": ("路灯", "street light"), "charger": ("电动车充电桩", "e-bike charger"),
})

ORG_KINDS = MappingProxyType({
    "party_branch": ("党支部", "party branch"), "property_company": ("物业公司", "property company"),
    "owners_committee": ("业主委员会", "owners' committee"), "social_org": ("社会组织", "social organization"),
    "volunteer_team": ("志愿服务队", "volunteer team"), "firm": ("企业", "firm"),
})

STAFF_ROLES = MappingProxyType({
    # 一格八员 — the eight roles attached to every grid (local practice varies; this is ours)
    "leader": ("网格长", "grid leader"), "worker": ("专职网格员", "full-time grid worker"),
    "auxiliary": ("兼职网格员", "auxiliary worker"), "police": ("网格警员", "police officer"),
    "legal_advisor": ("法律顾问", "legal advisor"), "doctor": ("家庭医生", "family doctor"),
    "supervisor": ("网格督导员", "supervisor"), "party_liaison": ("党建指导员", "party liaison"),
    # beyond the eight
    "department_liaison": ("部门联络员", "department liaison"), "special": ("专属网格员", "special worker"),
})

EVENT_SOURCES = MappingProxyType({
    "grid_worker": ("网格员上报", "grid worker"), "citizen_qr": ("群众扫码", "citizen QR"),
    "hotline_12345": ("12345热线", "12345 hotline"), "sensor": ("物联感知", "sensor"),
    "video_ai": ("视频AI", "video AI"), "open311": ("Open311", "Open311"),
})

EVENT_STATUSES = MappingProxyType({
    "reported": ("已上报", "reported"), "accepted": ("已受理", "accepted"),
    "dispatched": ("已派遣", "dispatched"), "in_progress": ("处置中", "in progress"),
    "resolved": ("已办结", "resolved"), "verified": ("已核查", "verified"), "closed": ("已结案", "closed"),
    "returned": ("已退回", "returned"), "escalated": ("已上报上级", "escalated"),
    "rejected": ("不予受理", "rejected"), "suspended": ("挂账", "suspended"),
})
OPEN_STATUSES = frozenset(EVENT_STATUSES) - {"resolved", "verified", "closed", "rejected"}

USER_ROLES = MappingProxyType({
    "admin": ("管理员", "admin"), "commander": ("指挥中心", "commander"), "analyst": ("分析员", "analyst"),
    "grid_leader": ("网格长", "grid leader"), "grid_worker": ("网格员", "grid worker"),
    "department": ("部门处置人员", "department handler"), "citizen": ("群众", "citizen"),
})

# Event categories and departments are rows, not codes in a CHECK: issue 5 makes them editable.
DEPARTMENTS = (
    # code, 中文, English
    ("public_security", "公安派出所", "public security"),
    ("urban_management", "城市管理局", "urban management"),
    ("market_supervision", "市场监管局", "market supervision"),
    ("civil_affairs", "民政局", "civil affairs"),
    ("housing", "住建局", "housing and construction"),
    ("fire", "消防救援大队", "fire and rescue"),
    ("environment", "生态环境局", "ecology and environment"),
    ("judicial", "司法所", "judicial mediation"),
    ("heating", "供热公司", "heating utility"),
    ("health", "卫生健康局", "health"),
    ("human_resources", "人社局", "human resources and social security"),
)

EVENT_CATEGORIES = (
    # code, 中文, English, default department, season weight (winter, summer)
    ("dispute", "矛盾纠纷", "dispute", "judicial"),
    ("safety_hazard", "安全隐患", "safety hazard", "fire"),
    ("environment", "环境卫生", "environment and sanitation", "urban_management"),
    ("illegal_construction", "违章建筑", "illegal construction", "urban_management"),
    ("public_order", "社会治安", "public order", "public_security"),
    ("noise", "噪音扰民", "noise", "environment"),
    ("heating", "供暖问题", "heating", "heating"),
    ("property", "物业管理", "property management", "housing"),
    ("food_safety", "食品安全", "food safety", "market_supervision"),
    ("public_service", "公共服务", "public service request", "civil_affairs"),
    ("wage_arrears", "欠薪讨薪", "wage arrears", "human_resources"),
    ("petition", "信访诉求", "petition", "civil_affairs"),
)

# Roles that may see individual people and their personal attributes; others get aggregates only.
PERSON_LEVEL_ROLES = frozenset({"admin", "grid_leader", "grid_worker"})
# Everyone who works for the city; citizens only report (QR) and see what any resident may see.
STAFF_USER_ROLES = frozenset(USER_ROLES) - {"citizen"}
