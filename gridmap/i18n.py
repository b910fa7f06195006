"""The label catalogue: Chinese and English text for the identifiers gridmap uses.

Code, files and the API use the English identifiers of docs/domain.md#identifiers
(``grid_branch``, ``clinic``, ``reported_back`` …); people read labels. Every
label lives here, keyed ``<group>.<identifier>`` (``level.grid``,
``facility.clinic``, ``check.grid_gap`` …), as a ``(zh, en)`` pair. Chinese is
the default language: the users are Chinese grassroots governance staff.

Add keys by extending :data:`CATALOGUE`; :func:`t` falls back to the key itself
for a key it does not know, so a missing label shows up as an identifier on
screen instead of breaking a report.
"""

from __future__ import annotations

__all__ = ["LANGS", "CATALOGUE", "t", "label"]

#: The languages of the catalogue, in the order of its pairs.
LANGS: tuple[str, ...] = ("zh", "en")

#: ``{key: (zh, en)}``.
CATALOGUE: dict[str, tuple[str, str]] = {
    # Levels of the hierarchy and their layers.
    "level.district": ("区", "district"),
    "level.subdistrict": ("街道", "subdistrict"),
    "level.community": ("社区", "community"),
    "level.grid": ("网格", "grid"),
    "level.building": ("楼栋", "building"),
    "layer.districts": ("区", "districts"),
    "layer.subdistricts": ("街道", "subdistricts"),
    "layer.communities": ("社区", "communities"),
    "layer.grids": ("网格", "grids"),
    "layer.buildings": ("楼栋", "buildings"),
    "layer.facilities": ("服务设施", "facilities"),
    "layer.party_orgs": ("党组织", "party organisations"),
    "layer.roads": ("道路", "roads"),
    "layer.incidents": ("事件", "incidents"),
    "layer.incident_events": ("事件流转记录", "incident events"),
    "layer.metadata": ("元数据", "metadata"),
    # Service facilities (docs/domain.md#service-circles).
    "facility.service_station": ("社区服务站", "community service station"),
    # Life-circle coverage figures of `gridmap stats` (people the type serves,
    # within its standard walking distance along the streets).
    "stat.coverage": (
        "生活圈覆盖（步行可达，按服务人口）",
        "life-circle coverage (on foot, people served)",
    ),
    "coverage.service_station_share": ("社区服务站", "community service station"),
    "coverage.clinic_share": ("社区卫生服务站", "community clinic"),
    "coverage.kindergarten_share": ("幼儿园（0–6岁儿童）", "kindergarten (children 0–6)"),
    "coverage.elderly_daycare_share": ("老年人日间照料中心（60岁以上）", "elderly day care (60+)"),
    "coverage.primary_school_share": ("小学", "primary school"),
    "coverage.fresh_market_share": ("菜市场", "fresh market"),
    "coverage.life_circle_all_share": ("六类基础设施均可达的居民", "residents reaching all six"),
    "coverage.life_circle_mean": (
        "平均可达基础设施类型数（0–6）",
        "mean must-have types reached (0–6)",
    ),
    "facility.clinic": ("社区卫生服务站", "community clinic"),
    "facility.kindergarten": ("幼儿园", "kindergarten"),
    "facility.elderly_daycare": ("老年人日间照料中心", "elderly day care"),
    "facility.primary_school": ("小学", "primary school"),
    "facility.fresh_market": ("菜市场", "fresh market"),
    "facility.bus_stop": ("公交站", "bus stop"),
    "facility.middle_school": ("初中", "middle school"),
    "facility.health_centre": ("社区卫生服务中心", "community health centre"),
    "facility.subdistrict_centre": ("街道社区服务中心", "subdistrict service centre"),
    "facility.police_station": ("派出所", "police station"),
    "facility.judicial_office": ("司法所", "judicial office"),
    "facility.nursing_home": ("养老院", "nursing home"),
    "facility.party_service_centre": ("党群服务中心", "party-mass service centre"),
    # Party organisation kinds (docs/domain.md#party-organisations).
    "party_kind.grid_branch": ("网格党支部", "grid party branch"),
    "party_kind.building_group": ("楼栋党小组", "building party group"),
    "party_kind.central_household": ("党员中心户", "party-member central household"),
    # Building uses.
    "use.residential": ("住宅", "residential"),
    "use.commercial": ("商业", "commercial"),
    "use.public": ("公共建筑", "public"),
    "use.mixed": ("商住混合", "mixed"),
    "use.industrial": ("工业", "industrial"),
    # Incident steps of the closed loop (docs/domain.md#incident-loop).
    "step.collected": ("信息收集", "collected"),
    "step.registered": ("案卷建立", "registered"),
    "step.dispatched": ("任务派遣", "dispatched"),
    "step.handling": ("任务处理", "handling"),
    "step.reported_back": ("处理反馈", "reported back"),
    "step.closed": ("核查结案", "closed"),
    "step.evaluated": ("综合评价", "evaluated"),
    "step.voided": ("不予立案", "voided"),
    "step.whistled": ("街乡吹哨", "whistled"),
    # Incident categories.
    "category.city_appearance": ("市容环境", "city appearance"),
    "category.advertising": ("宣传广告", "advertising"),
    "category.construction": ("施工管理", "construction"),
    "category.street_order": ("街面秩序", "street order"),
    "category.emergency": ("突发事件", "emergency"),
    "category.facility": ("部件", "public facility"),
    "category.dispute": ("矛盾纠纷", "dispute"),
    "category.safety_hazard": ("安全隐患", "safety hazard"),
    "category.resident_request": ("民生诉求", "resident request"),
    "category.other": ("其他", "other"),
    # Incident sources.
    "source.patrol": ("网格员巡查", "patrol"),
    "source.resident": ("群众上报", "resident"),
    "source.hotline_12345": ("12345热线", "12345 hotline"),
    "source.camera": ("视频监控", "camera"),
    "source.higher_level": ("上级交办", "higher level"),
    # Levels at which a case is closed.
    "closing_level.grid": ("网格", "grid"),
    "closing_level.community": ("社区", "community"),
    "closing_level.subdistrict": ("街道", "subdistrict"),
    "closing_level.district": ("区", "district"),
    "closing_level.department": ("职能部门", "department"),
    # Residents' satisfaction (12345 practice).
    "satisfaction.satisfied": ("满意", "satisfied"),
    "satisfaction.basically_satisfied": ("基本满意", "basically satisfied"),
    "satisfaction.dissatisfied": ("不满意", "dissatisfied"),
    # Validation report (gridmap.validate).
    "severity.error": ("错误", "error"),
    "severity.warning": ("警告", "warning"),
    "check.code_width": ("编码位数或字符错误", "malformed code"),
    "check.code_serial": ("编码序号错误", "bad code serial"),
    "check.code_prefix": ("编码与上级不符", "code does not extend its parent's"),
    "check.duplicate_code": ("编码重复", "duplicate code"),
    "check.duplicate_id": ("标识重复", "duplicate id"),
    "check.orphan": ("上级单元不存在", "parent missing"),
    "check.outside_parent": ("超出上级范围", "outside its parent"),
    "check.subdistrict_gap": ("街道间空隙", "gap between subdistricts"),
    "check.subdistrict_overlap": ("街道重叠", "overlapping subdistricts"),
    "check.community_gap": ("社区间空隙", "gap between communities"),
    "check.community_overlap": ("社区重叠", "overlapping communities"),
    "check.grid_gap": ("网格间空隙", "gap between grids"),
    "check.grid_overlap": ("网格重叠", "overlapping grids"),
    "check.invalid_geometry": ("几何图形无效", "invalid geometry"),
    "check.empty_geometry": ("几何图形为空", "empty geometry"),
    "check.geometry_type": ("几何类型错误", "wrong geometry type"),
    "check.undivided_with_siblings": ("“00”网格另有同级网格", "undivided grid with siblings"),
    "check.district_without_subdistrict": ("区下无街道", "district without subdistricts"),
    "check.subdistrict_without_community": ("街道下无社区", "subdistrict without communities"),
    "check.community_without_grid": ("社区未划分网格", "community without grids"),
    "check.bad_value": ("字段值错误", "bad value"),
    "check.no_district": ("缺少区图层", "no district"),
    "report.title": ("数据检查报告", "Validation report"),
    "report.counts": ("各图层要素数", "Features per layer"),
    "report.summary": (
        "错误 {errors} 个，警告 {warnings} 个",
        "errors: {errors}, warnings: {warnings}",
    ),
    "report.ok": ("未发现问题", "No problems found"),
    "report.area": ("面积", "area"),
    "report.location": ("位置", "at"),
    "report.row": ("行", "row"),
    "report.more": ("…… 另有 {n} 条", "… and {n} more"),
    # Statistics (gridmap.stats, gridmap.party).
    "stat.code": ("编码", "code"),
    "stat.name": ("名称", "name"),
    "stat.level": ("层级", "level"),
    "stat.area_km2": ("面积", "area"),
    "stat.subdistricts": ("街道数", "subdistricts"),
    "stat.communities": ("社区数", "communities"),
    "stat.grids": ("网格数", "grids"),
    "stat.buildings": ("楼栋数", "buildings"),
    "stat.residential_buildings": ("住宅楼栋数", "residential buildings"),
    "stat.residents": ("常住人口", "residents"),
    "stat.households": ("户数", "households"),
    "stat.elderly": ("60岁以上老人", "elderly (60+)"),
    "stat.children": ("0–6岁儿童", "children (0–6)"),
    "stat.party": ("党建引领", "party organisation"),
    "stat.facilities": ("服务设施", "facilities"),
    "stat.incidents": ("事件", "incidents"),
    "stat.count": ("总数", "total"),
    "stat.open": ("未办结", "open"),
    "stat.none": ("无", "none"),
    # Incident KPIs of a unit (gridmap.incidents.unit_metrics_one); the
    # step_* and category_* counts are labelled from the step and category groups.
    "incident.count": ("事件总数", "incidents"),
    "incident.open": ("未办结", "open"),
    "incident.overdue": ("超期（含超期办结）", "overdue (incl. closed late)"),
    "incident.closed": ("已结案", "closed"),
    "incident.on_time": ("按时办结", "closed on time"),
    "incident.on_time_closure_rate": ("按时办结率", "on-time closure rate"),
    "incident.median_hours_to_close": ("办结时长中位数（小时）", "median hours to close"),
    "incident.p90_hours_to_close": ("办结时长90分位（小时）", "90th percentile hours to close"),
    "incident.grid_level": ("网格内办结", "closed in the grid"),
    "incident.grid_level_share": (
        "小事不出网格率",
        "closed at grid level (small matters stay in the grid)",
    ),
    "incident.transferred_twice": ("转派两次及以上", "transferred twice or more"),
    "incident.reworked": ("发回重办", "sent back for rework"),
    "incident.rework_rate": ("发回重办率", "rework rate"),
    "incident.answered": ("回访评价数", "evaluated"),
    "incident.satisfied": ("满意及基本满意", "satisfied or basically satisfied"),
    "incident.satisfaction_rate": ("满意率", "satisfaction rate"),
    "incident.whistled": ("街乡吹哨", "whistled (escalated)"),
    "stat.yes": ("是", "yes"),
    "stat.no": ("否", "no"),
    "party.grids": ("网格数", "grids"),
    "party.grids_with_branch": ("已建党支部的网格", "grids with a party branch"),
    "party.branch_share": ("网格党支部覆盖率", "grid branch coverage"),
    "party.branches": ("网格党支部数", "grid party branches"),
    "party.residential_buildings": ("住宅楼栋数", "residential buildings"),
    "party.buildings_with_group": ("已建党小组的楼栋", "buildings with a party group"),
    "party.group_share": ("楼栋党小组覆盖率", "building group coverage"),
    "party.building_groups": ("楼栋党小组数", "building party groups"),
    "party.central_households": ("党员中心户", "central households"),
    "party.central_households_per_grid": ("每网格党员中心户", "central households per grid"),
    "party.members": ("网格党员数", "party members"),
    "party.households": ("户数", "households"),
    "party.members_per_100_households": ("每百户党员数", "members per 100 households"),
    "party.subdistricts": ("街道数", "subdistricts"),
    "party.branches_per_subdistrict": ("每街道网格党支部数", "branches per subdistrict"),
    # Signing in to the dashboard (gridmap.app.auth).
    "auth.title": ("登录", "Sign in"),
    "auth.user": ("用户名", "User name"),
    "auth.password": ("密码", "Password"),
    "auth.submit": ("登录", "Sign in"),
    "auth.failed": ("用户名或密码不正确。", "Wrong user name or password."),
    "auth.locked": (
        "登录失败次数过多，该账号已暂时锁定，请 {minutes} 分钟后再试。",
        "Too many failed sign-ins: the account is locked; try again in {minutes} minutes.",
    ),
    "auth.rate_limited": (
        "来自您所在地址的登录失败次数过多，请稍后再试。",
        "Too many failed sign-ins from your address: try again later.",
    ),
    "auth.signed_out": ("您已退出登录。", "You have signed out."),
    "auth.idle": (
        "长时间未操作，已自动退出登录，请重新登录。",
        "You were signed out after a time without activity: sign in again.",
    ),
    "auth.ended": ("您的会话已结束，请重新登录。", "Your session has ended: sign in again."),
    "auth.token_invalid": (
        "大屏链接无效或已被撤销。",
        "This wall display link is not valid, or it was revoked.",
    ),
    "auth.account": ("当前用户", "Signed in as"),
    "auth.logout": ("退出登录", "Sign out"),
    "auth.change_password": ("修改密码", "Change password"),
    "auth.password_old": ("当前密码", "Current password"),
    "auth.password_new": ("新密码", "New password"),
    "auth.password_again": ("再次输入新密码", "New password again"),
    "auth.password_submit": ("保存新密码", "Save the new password"),
    "auth.password_wrong": ("当前密码不正确。", "The current password is wrong."),
    "auth.password_mismatch": ("两次输入的新密码不一致。", "The two new passwords differ."),
    "auth.password_short": (
        "新密码至少需要 {n} 个字符。",
        "The new password needs at least {n} characters.",
    ),
    "auth.password_done": ("密码已修改。", "Your password has been changed."),
    "auth.no_password": (
        "大屏会话没有密码可修改。",
        "A wall display session has no password to change.",
    ),
    "auth.back": ("返回地图", "Back to the map"),
    "auth.demo_title": ("演示账号（合成数据）", "Demo accounts (synthetic data)"),
    "auth.demo_note": (
        "仅用于本机演示：点击一个账号，即以该角色登录。",
        "For this local demo only: click an account to sign in with its role.",
    ),
    "auth.scope_all": ("全区", "the whole district"),
    # The dashboard (gridmap.app).
    "app.title": ("网格化治理地图", "Grid governance map"),
    "app.lang_switch": ("English", "中文"),
    "app.synthetic": ("演示数据为合成数据", "Demo data are synthetic"),
    "app.numbers": ("数据概览", "Figures"),
    "app.layers": ("图层", "Layers"),
    "app.measure": ("着色指标", "Colour by"),
    "app.layer.units": ("单元着色", "Units"),
    "app.layer.party": ("党组织覆盖", "Party organisations"),
    "app.layer.circles": ("15分钟生活圈", "Service circles"),
    "app.layer.heatmap": ("事件热力图", "Incident heatmap"),
    "app.units_mode": ("单元显示", "Units drawn as"),
    "app.units_mode.measure": ("按指标着色", "coloured by measure"),
    "app.units_mode.outline": ("仅边界", "outlines only"),
    "app.facility_type": ("设施类型", "Facility type"),
    "app.minutes": ("步行分钟", "Minutes on foot"),
    "app.months": ("时间范围（月）", "Months"),
    "app.categories": ("事件类别（不选为全部）", "Categories (none: all)"),
    "app.trend": ("每月事件数", "Incidents per month"),
    "app.month": ("月", "month"),
    # Each type is judged at its own standard distance (300/500/1000 m), so "步行可达"
    # rather than "15-minute" for the 5- and 10-minute types.
    "app.coverage_of": ("步行可达覆盖：{what}", "within walking reach: {what}"),
    "app.click_hint": ("点击地图上的{level}进入下一级", "click a {level} on the map to open it"),
    "app.building": ("楼栋信息", "Building"),
    "app.building_use": ("用途", "use"),
    "app.party_group": ("楼栋党组织", "party organisation"),
    "app.open_incidents": ("未办结事件", "open incidents"),
    "app.none": ("无", "none"),
    "app.members": ("党员 {n} 人", "{n} members"),
    "app.breadcrumb": ("当前位置", "You are here"),
    "app.home": ("全貌", "Whole unit"),
    "app.home_hint": ("显示当前单元全貌", "Show the whole unit on screen"),
    "app.empty_store": (
        "数据库中没有区级数据，无法显示地图。请先运行 `gridmap demo` 或导入区界。",
        "The store holds no district, so there is no map to show. "
        "Run `gridmap demo` or import a district boundary first.",
    ),
    "app.unknown_unit": (
        "没有编码为 {code} 的单元，已显示全区。",
        "No unit has the code {code}; showing the whole district.",
    ),
    "app.no_incidents": ("数据库中没有事件数据。", "The store holds no incidents."),
    "app.no_incidents_here": (
        "所选时段内本单元没有事件。",
        "No incidents here in the chosen months.",
    ),
    "app.trend_bar": ("{month}：{n} 件", "{month}: {n} incidents"),
    "app.no_roads": (
        "数据库中没有道路数据：底图仅显示区界，生活圈覆盖无法计算。",
        "The store holds no roads: the basemap shows the boundary only "
        "and service coverage cannot be computed.",
    ),
    "app.layer_failed": ("图层无法显示：{error}", "The layer cannot be shown: {error}"),
    "app.refused": (
        "请求中的{what}不是本页提供的选项：{value}",
        "The request's {what} is not one this page offers: {value}",
    ),
    "app.refused_hint": ("请刷新页面后重试", "reload the page and try again"),
    "app.malformed_query": (
        "网址中的参数无效（unit 只能出现一次，且须为单元编码），已显示全区。",
        "The address's query is not valid (unit must appear once, as a unit code); "
        "showing the whole district.",
    ),
    "app.what.unit": ("单元", "unit"),
    "app.what.measure": ("指标", "measure"),
    "app.what.units_mode": ("单元显示方式", "how the units are drawn"),
    "app.what.layers": ("图层", "layers"),
    "app.what.facility": ("设施类型", "facility type"),
    "app.what.minutes": ("步行时间", "walking minutes"),
    "app.what.months": ("月份范围", "month window"),
    "app.what.categories": ("事件类别", "incident categories"),
    "app.what.reconnect": ("重新连接信息", "reconnection notice"),
    "app.panel_failed": (
        "此处无法显示（内部错误，已记录，编号 {ref}）",
        "This part cannot be shown (an internal error, logged as {ref})",
    ),
    # The banner of a page that lost its server (assets/offline.js shows it).
    "app.offline": (
        "网络已断开：显示的是断开前的内容，恢复连接后自动更新",
        "Offline: showing what was last loaded; it updates by itself when the connection returns",
    ),
    "app.offline_held": (
        "连接恢复前无法切换页面",
        "Links and map clicks wait until the connection returns",
    ),
    # What the commands print (gridmap.cli): templates filled with str.format.
    # English output names layers, steps and facility types by the identifiers a
    # user types; Chinese output by their labels above.
    "cli.demo.kept": (
        "{store} 中已有区级数据，保持不变（--if-empty）",
        "{store} already holds a district; left as it is (--if-empty)",
    ),
    # `tests/conftest.py` finds the store's path on this line, in either language.
    "cli.demo.store": ("演示数据库：{location}", "demo store: {location}"),
    "cli.demo.built": (
        "{name}（{code}），随机种子 {seed}，生成用时 {seconds:.1f} 秒",
        "district {code} {name}, seed {seed}, built in {seconds:.1f} s",
    ),
    "cli.demo.residents": (
        "常住人口 {n:,}（合成数据：仅区界和名称为真实数据）",
        "residents {n:,} (synthetic: only the boundary and the names are real)",
    ),
    # A demo that moves: the demo's as-of and --live, and `gridmap simulate`.
    "cli.demo.as_of": (
        "事件数据截至北京时间 {local}（--seed {seed} --as-of {iso} 可重建同样的数据）",
        "incidents up to {local} Beijing time (--seed {seed} --as-of {iso} rebuilds the same data)",
    ),
    "cli.demo.live": (
        "演示数据实时变化：每 {every} 秒新增或流转一件合成事件（标注【合成】），看板停止时一同停止",
        "the demo is live: every {every} s a synthetic case (labelled 【合成】) is reported or "
        "moved, until the dashboard stops",
    ),
    "cli.simulate.start": (
        "正在向 {store} 写入合成事件，每 {every} 秒一次（按 Ctrl+C 停止）",
        "writing synthetic cases into {store}, one every {every} s (Ctrl+C stops)",
    ),
    "cli.simulate.reported": (
        "新增 {id}（{category}，网格 {grid}）：{description}",
        "reported {id} ({category}, grid {grid}): {description}",
    ),
    "cli.simulate.moved": ("流转 {id}（{move}）：{moves}", "moved {id} ({move}): {moves}"),
    "cli.simulate.skipped": (
        "gridmap: 警告：跳过一次写入：{reason}",
        "gridmap: warning: skipped a write: {reason}",
    ),
    "cli.simulate.summary": (
        "合成事件：新增 {reported} 件，流转 {moved} 次",
        "simulated: {reported} reported, {moved} moved",
    ),
    "cli.simulate.summary_skipped": (
        "合成事件：新增 {reported} 件，流转 {moved} 次，跳过 {skipped} 次",
        "simulated: {reported} reported, {moved} moved, {skipped} skipped",
    ),
    "cli.serve.url": (
        "{store} 的数据看板：http://{host}:{port}/ （按 Ctrl+C 停止）",
        "dashboard of {store}: http://{host}:{port}/  (Ctrl+C stops it)",
    ),
    "cli.serve.basemap": (
        "底图：{name} 瓦片（需要联网）",
        "basemap: {name} tiles (needs the internet)",
    ),
    "cli.import.done": (
        "已导入 {n:,} 条记录到 {store} 的{layer}图层",
        "imported {n:,} rows into {layer} of {store}",
    ),
    "cli.export.done": (
        "已导出{layer}图层 {n:,} 条记录到 {path}",
        "exported {n:,} rows of {layer} to {path}",
    ),
    "cli.export.html": (
        "已写出含 {n} 个图层的地图（{mb:.1f} MB）到 {path}（用时 {seconds:.1f} 秒）",
        "wrote a map of {n} layers ({mb:.1f} MB) to {path} ({seconds:.1f} s)",
    ),
    "cli.coverage.network": (
        "路网：{nodes:,} 个节点，{segments:,} 条路段，{km:,.1f} 公里；{components} 个连通片，"
        "最大的一片含 {largest:.1%} 的节点（各楼栋在其可达的连通片上测算）",
        "network: {nodes:,} nodes, {segments:,} segments, {km:,.1f} km; {components} connected "
        "piece(s), the largest holding {largest:.1%} of the nodes (each building is measured "
        "on the piece it reaches)",
    ),
    "cli.coverage.reach": ("{meters:.0f} 米", "{meters:.0f} m"),
    "cli.coverage.reach_minutes": (
        "{meters:.0f} 米（{minutes:g} 分钟）",
        "{meters:.0f} m ({minutes:g} min)",
    ),
    "cli.coverage.judged": (
        "{type}：{facilities} 处设施，按沿街步行 {reach}测算（用时 {seconds:.1f} 秒）",
        "{type}: {facilities} facilities, judged at {reach} along the streets ({seconds:.1f} s)",
    ),
    "cli.coverage.covered": (
        "服务人口覆盖：{served:,} 人中 {covered:,} 人（{pct:.1f}%）；楼栋覆盖：{buildings:,} 栋中 "
        "{buildings_covered:,} 栋；不可达（距道路超过 200 米）：楼栋 {buildings_unreachable:,} 栋，"
        "设施 {facilities_unreachable:,} 处",
        "people served covered: {covered:,} of {served:,} ({pct:.1f}%); buildings covered "
        "{buildings_covered:,} of {buildings:,}; unreachable (over 200 m from a street) "
        "{buildings_unreachable:,} buildings, {facilities_unreachable:,} facilities",
    ),
    "cli.coverage.suggested": (
        "{type}：建议新增 {n} 处选址（沿街步行 {reach}以内）",
        "{type}: {n} suggested site(s), within {reach} along the streets",
    ),
    "cli.coverage.wrote_sites": ("已写出 {n} 处选址到 {path}", "wrote {n} sites to {path}"),
    "cli.coverage.wrote_circles": (
        "已写出 {n} 处设施的服务圈到 {path}",
        "wrote the service circles of {n} facilities to {path}",
    ),
    "cli.coverage.wrote_buildings": (
        "已写出 {n:,} 栋楼栋的覆盖情况到 {path}",
        "wrote {n:,} buildings to {path}",
    ),
    # Column headers of the printed tables; the English ones are the column names
    # of the file --out writes.
    "column.code": ("编码", "code"),
    "column.residents": ("服务人口", "residents"),
    "column.residents_covered": ("覆盖人口", "residents_covered"),
    "column.pct_residents": ("人口覆盖率%", "pct_residents"),
    "column.pct_households": ("户覆盖率%", "pct_households"),
    "column.pct_buildings": ("楼栋覆盖率%", "pct_buildings"),
    "column.rank": ("序号", "rank"),
    "column.gain": ("新增覆盖人口", "gain"),
    "column.households_gain": ("新增覆盖户数", "households_gain"),
    "column.pct_covered_after": ("新增后覆盖率%", "pct_covered_after"),
    "column.x": ("经度", "x"),
    "column.y": ("纬度", "y"),
    "column.road_id": ("道路编号", "road_id"),
    "cli.incidents.imported": (
        "已导入 {n:,} 件事件到 {store}",
        "imported {n:,} incidents into {store}",
    ),
    "cli.incidents.rejected": (
        "{n:,} 行未导入：见 {path}",
        "rejected {n:,} row(s): see {path}",
    ),
    "cli.incidents.moved": (
        "事件 {id}：{moves}（版本 {version}）",
        "incident {id}: {moves} (version {version})",
    ),
    "cli.db.gpkg": (
        "{store}：GeoPackage 数据库无需迁移，已可使用",
        "{store}: a GeoPackage store has no migrations; it is ready",
    ),
    "cli.db.current": (
        "{store}：数据库结构已是版本 {version}，无需升级",
        "{store}: schema already at version {version}; nothing to do",
    ),
    "cli.db.upgraded": (
        "{store}：数据库结构已从 {before} 升级到 {after}",
        "{store}: schema upgraded from {before} to {after}",
    ),
    "cli.db.created": (
        "{store}：已建立数据库结构（版本 {after}）",
        "{store}: schema upgraded from none to {after}",
    ),
    "cli.info.store": ("数据库：{store}", "store: {store}"),
    "cli.info.synthetic": ("合成", "SYNTHETIC"),
    "cli.info.real": ("真实", "real"),
}


def _incident_count_labels() -> None:
    """``incident.step_<s>`` / ``incident.category_<c>``: the step and category labels."""
    for key, pair in list(CATALOGUE.items()):
        group, _, name = key.partition(".")
        if group in ("step", "category"):
            CATALOGUE[f"incident.{group}_{name}"] = pair


_incident_count_labels()

# Accounts, roles, wall tokens and the audit log (gridmap users / wall-token / audit).
CATALOGUE.update(
    {
        "app.reporter": ("报告人", "Reported by"),
        "app.not_in_area": ("不在您的管辖范围内", "not in your area"),
        "app.not_in_area_hint": (
            "您只能查看自己负责的区域",
            "you can open only the units you are responsible for",
        ),
        "app.my_areas": ("我的区域", "My areas"),
        "role.admin": ("系统管理员", "Administrator"),
        "role.commander": ("指挥中心", "Command centre"),
        "role.dispatcher": ("受理派遣员", "Dispatcher"),
        "role.department": ("处置部门", "Department"),
        "role.supervisor": ("网格员", "Grid supervisor"),
        "role.planner": ("规划人员", "Planner"),
        "role.viewer": ("只读用户", "Viewer"),
        "cli.users.added": ("已添加用户 {name}（{role}）", "added the user {name} ({role})"),
        "cli.users.generated": (
            "{name} 的初始密码（只显示这一次）：",
            "the password of {name} (shown this once):",
        ),
        "cli.users.none": ("还没有用户", "no users yet"),
        "cli.users.col.name": ("用户名", "name"),
        "cli.users.col.role": ("角色", "role"),
        "cli.users.col.scope": ("范围", "scope"),
        "cli.users.col.department": ("部门", "department"),
        "cli.users.col.state": ("状态", "state"),
        "cli.users.everywhere": ("全部", "everything"),
        "cli.users.disabled": ("已停用", "disabled"),
        "cli.users.locked": ("锁定至 {until}", "locked until {until}"),
        "cli.users.disabled_done": ("已停用用户 {name}", "disabled the user {name}"),
        "cli.users.passwd": ("已修改 {name} 的密码", "changed the password of {name}"),
        "cli.token.created": (
            "已创建大屏令牌 {name}（只显示这一次；用 /wall?token=令牌 打开）：",
            "created the wall token {name} (shown this once; open /wall?token=TOKEN):",
        ),
        "cli.token.revoked": ("已吊销大屏令牌 {name}", "revoked the wall token {name}"),
        "cli.audit.pruned": (
            "已删除 {before} 之前的审计记录 {n} 条",
            "removed {n} audit rows older than {before}",
        ),
        "cli.audit.broken": (
            "审计日志被改动：第 {id} 条记录：{reason}",
            "the audit log was tampered with: row {id}: {reason}",
        ),
        "cli.audit.intact": (
            "审计日志完整：{n} 条记录，最后一条 {id}，哈希 {hash}",
            "the audit log is intact: {n} rows, the last {id}, hash {hash}",
        ),
        "cli.demo.accounts": (
            "演示账号（合成数据；密码只显示这一次，本机登录页也会列出）：",
            "demo accounts (synthetic data; passwords shown this once, also listed on the "
            "login page on this machine):",
        ),
        "cli.demo.wall": ("大屏令牌：/wall?token={token}", "wall token: /wall?token={token}"),
    }
)


# The map layers' words (layers/*): titles, legends, tooltips and the export's page.
CATALOGUE.update(
    {
        "map.synthetic": ("演示数据为合成数据", "demo data are synthetic"),
        "map.boundary": ("边界", "Boundary"),
        "map.circles_district": (
            "全区按街道显示覆盖率；进入街道可见步行服务范围和未覆盖的楼栋",
            "the district shows each subdistrict's coverage; open a subdistrict to see the "
            "walking service areas and the buildings not reached",
        ),
        "map.no_buildings": (
            "存储中没有楼栋，未绘制服务圈",
            "the store has no buildings: service circles left out",
        ),
        # layers/grids.py
        "map.units.title": ("{level}{measure}", "{measure} by {level}"),
        "map.units.no_data": ("无数据", "no data"),
        "map.units.breaks": ("分级：分位数（{k} 级）", "classes: quantiles ({k})"),
        "map.units.fixed": ("分级固定（沿用既定分级）", "fixed classes (reused)"),
        "map.units.level_breaks": (
            "分级：全区 {n} 个{level}的分位数（{k} 级，每级数量相近），各视图相同",
            "classes: quantiles of all {n} {level} units of the district ({k}, about equal"
            " counts), the same in every view",
        ),
        # layers/grids.py
        "measure.households": ("户数（户）", "Households"),
        "measure.population": ("常住人口（人）", "Residents"),
        "measure.residents": ("常住人口（人）", "Residents"),
        "measure.buildings": ("楼栋数（栋）", "Buildings"),
        "measure.residential_buildings": ("住宅楼栋数（栋）", "Residential buildings"),
        "measure.elderly": ("60岁以上老人（人）", "Elderly 60+"),
        "measure.children": ("0–6岁儿童（人）", "Children 0–6"),
        "measure.density": ("人口密度（人/平方公里）", "Population density (per km²)"),
        "measure.household_density": ("住户密度（户/平方公里）", "Household density (per km²)"),
        "measure.area_km2": ("面积（平方公里）", "Area (km²)"),
        "measure.grids": ("网格数（个）", "Grids"),
        "measure.members": ("党员数（人）", "Party members"),
        "measure.incidents": ("事件数（件）", "Incidents"),
        # layers/party.py
        "map.party.branch_title": ("网格党支部覆盖", "Grid party branch coverage"),
        "map.party.with_branch": (
            "已建网格党支部（{n:,} 个网格）",
            "with a grid party branch ({n:,} grids)",
        ),
        "map.party.without_branch": (
            "未建网格党支部（{n:,} 个网格）",
            "no grid party branch ({n:,} grids)",
        ),
        "map.party.branch_note": ("覆盖率 {p}", "coverage {p}"),
        "map.party.branch_tip": ("{branch} · 党员 {m} 人", "{branch} · {m} party members"),
        "map.party.no_branch_tip": ("未建网格党支部", "no grid party branch"),
        "map.party.group_title": (
            "已建楼栋党小组的住宅楼栋",
            "Residential buildings with a party group",
        ),
        "map.party.group_item": ("住宅楼栋（{n:,} 栋）", "residential buildings ({n:,})"),
        "map.party.group_note": (
            "{a:,} / {b:,} 栋住宅楼栋已建党小组（{p}）",
            "{a:,} of {b:,} residential buildings have a group ({p})",
        ),
        "map.party.group_tip": (
            "{code} · {group} · 党员 {m} 人",
            "{code} · {group} · {m} party members",
        ),
        "map.party.central_title": ("党员中心户", "Party-member central households"),
        "map.party.central_item": ("党员中心户（{n:,} 户）", "central households ({n:,})"),
        "map.party.central_tip": (
            "党员中心户 · {name}（{unit}）",
            "central household · {name} ({unit})",
        ),
        # layers/service_circles.py
        "map.circles.circles": (
            "{ftype}：步行 {reach} 可达范围",
            "{ftype}: reachable on foot within {reach}",
        ),
        "map.circles.coverage": ("{ftype}覆盖率（按服务人口）", "{ftype} coverage (people served)"),
        "map.circles.uncovered": ("{ftype}服务盲区楼栋", "Buildings beyond reach of a {ftype}"),
        "map.circles.reach_m": ("{m:.0f} 米", "{m:.0f} m"),
        "map.circles.reach_min": ("{min:g} 分钟（{m:.0f} 米）", "{min:g} min ({m:.0f} m)"),
        "map.circles.along": ("沿步行路网计算", "measured along the walking network"),
        "map.circles.covered": (
            "已覆盖 {a:,} / {b:,} 人（{p}）",
            "{a:,} of {b:,} people covered ({p})",
        ),
        "map.circles.none_within": ("范围内无设施", "none within reach"),
        "map.circles.nearest": ("最近设施 {d:.0f} 米", "nearest {d:.0f} m"),
        "map.circles.served": ("服务人口 {n:,}", "{n:,} people served"),
        # layers/incidents.py
        "map.incidents.density": ("事件密度（件/平方公里）", "Incident density (per km²)"),
        "map.incidents.density_month": (
            "事件密度（件/平方公里/月）",
            "Incident density (per km² per month)",
        ),
        "map.incidents.kernel_month": (
            "高斯核密度，σ = {s} 米，{r} 米外为零；低于 {f} 件/平方公里/月不显示",
            "Gaussian kernel density, σ = {s} m, zero beyond {r} m; below {f} per km² per "
            "month not shown",
        ),
        "map.incidents.radius": ("半径 {r} 米", "radius {r} m"),
        "map.incidents.kernel": (
            "高斯核密度，σ = {s} 米，{r} 米外为零；低于 {f} 件/平方公里不显示",
            "Gaussian kernel density, σ = {s} m, zero beyond {r} m; below {f} per km² not shown",
        ),
        "map.incidents.window": ("{a} 至 {b}", "{a} to {b}"),
        "map.incidents.fixed": (
            "分级按本单元全部时段的月均密度固定，不随时间范围变化",
            "classes fixed from this unit's monthly density over the whole period: the same "
            "for every month window",
        ),
        "map.incidents.rate": ("事件发生率（件/{per}户）", "Incidents per {per} households"),
        "map.incidents.no_households": ("无住户", "no households"),
        "map.incidents.rate_tip": (
            "{name}（{code}）：事件 {n} 件 · 住户 {hh} 户 · {rate}",
            "{name} ({code}): {n} incidents · {hh} households · {rate}",
        ),
        "map.incidents.rate_value": ("每{per}户 {v} 件", "{v} per {per} households"),
        # layers/folium_map.py
        "map.export.legend": ("图例", "Legend"),
        # layers/folium_map.py
        "map.export.title": ("{name}（{code}）网格化治理图", "{name} ({code}) grid governance map"),
        "map.export.demo": ("（演示数据）", " (demo data)"),
        "map.export.no_roads": (
            "存储中没有道路，未绘制服务圈",
            "the store has no roads: service circles left out",
        ),
        "map.export.no_incidents": (
            "该范围内没有事件，未绘制事件热力图",
            "no incidents there: heatmap left out",
        ),
    }
)


# The field mode (/field: gridmap/app/field.py, assets/field/field.js).
CATALOGUE.update(
    {
        "field.title": ("现场巡查", "Field"),
        "field.dashboard": ("驾驶舱", "Dashboard"),
        "field.synthetic": ("演示数据（合成）", "Demo data (synthetic)"),
        "field.outbox": ("待发送", "to send"),
        "field.outbox_title": ("待发送（发件箱）", "Outbox"),
        "field.outbox_empty": ("没有待发送的内容", "Nothing waiting to be sent"),
        "field.pending": ("等待网络", "waiting for the network"),
        "field.refused": ("服务器未接受", "not accepted by the server"),
        "field.retry": ("重试", "Retry"),
        "field.discard": ("放弃", "Discard"),
        "field.discard_confirm": (
            "放弃后这条内容将被删除，确定吗？",
            "Discarding deletes this item for good. Sure?",
        ),
        "field.sent": ("已发送", "Sent"),
        "field.saved_offline": (
            "已保存在本机，恢复网络后自动发送",
            "Saved on this device; it is sent when the connection returns",
        ),
        "field.other_user": (
            "属于账号 {user}：请以该账号登录后发送",
            "belongs to {user}: sign in as {user} to send it",
        ),
        "field.report": ("上报事件", "Report a case"),
        "field.report_title": ("上报事件", "Report a case"),
        "field.here": ("使用我的位置", "Use my position"),
        "field.place": (
            "地点：在地图上点选，或使用我的位置",
            "Place: tap the map, or use my position",
        ),
        "field.place_tap": ("地点：地图点选", "Place: tapped on the map"),
        "field.place_gps": ("地点：我的位置（精度 ±{m} 米）", "Place: my position (±{m} m)"),
        "field.place_none": ("尚未选择地点", "No place chosen yet"),
        "field.gps_wait": ("正在定位…", "Finding your position…"),
        "field.gps_failed": ("无法定位：{reason}", "No position: {reason}"),
        "field.accuracy": ("精度 ±{m} 米", "±{m} m"),
        "field.category": ("类别", "Category"),
        "field.subcategory": ("小类（可选）", "Subcategory (optional)"),
        "field.description": ("情况描述", "Description"),
        "field.photo": ("照片（最多 3 张）", "Photos (up to 3)"),
        "field.photos_max": ("最多 3 张照片", "At most 3 photos"),
        "field.submit": ("提交", "Submit"),
        "field.cancel": ("取消", "Cancel"),
        "field.close": ("关闭", "Close"),
        "field.need_place": ("请先选择地点", "Choose the place first"),
        "field.need_category": ("请选择类别", "Choose a category"),
        "field.need_description": ("请填写情况描述", "Describe what you see"),
        "field.filter_step": ("环节", "Step"),
        "field.filter_category": ("类别", "Category"),
        "field.all": ("全部", "All"),
        "field.queue": ("只看待我处理", "Awaiting my move"),
        "field.cases": ("未办结案件", "Open cases"),
        "field.empty": ("没有符合条件的未办结案件", "No open cases here"),
        "field.loading": ("正在加载…", "Loading…"),
        "field.overdue": ("已超时 {t}", "overdue by {t}"),
        "field.left": ("剩余 {t}", "{t} left"),
        "field.no_deadline": ("未派遣，尚无时限", "not dispatched: no deadline yet"),
        "field.legend": ("案件（按环节）", "Cases (by step)"),
        "field.legend_overdue": ("粗黑边：已超时", "thick black ring: overdue"),
        "field.events": ("流转记录", "History"),
        "field.photos": ("照片", "Photos"),
        "field.no_photos": ("无照片", "No photos"),
        "field.reporter": ("报告人", "Reported by"),
        "field.move_note": ("说明（可选）", "Note (optional)"),
        "field.move_photo": ("照片（可选）", "Photo (optional)"),
        "field.move_submit": ("确认", "Confirm"),
        "field.department": ("部门", "Department"),
        "field.closed_level": ("解决层级", "Settled at"),
        "field.satisfaction": ("群众评价", "Resident's answer"),
        "field.hours": ("响应时限（小时）", "Response deadline (hours)"),
        "field.building": ("楼栋", "Building"),
        "field.grid": ("网格", "Grid"),
        "field.no_building": ("不在楼栋旁", "not at a building"),
        "field.report_kind": ("上报", "Report"),
        "field.move_kind": ("流转", "Move"),
        "field.whistled": ("已吹哨", "whistled"),
        "field.changed": (
            "案件已被他人更新：{what}",
            "The case was changed meanwhile: {what}",
        ),
        "field.changed_retry": ("按最新状态重试", "Retry on the current case"),
        "field.conflict_now": ("现在的环节：{step}", "Now at: {step}"),
        "field.sign_in_again": (
            "登录已过期：请重新登录，待发送内容会保留",
            "Signed out: sign in again; the outbox is kept",
        ),
        "field.offline": ("离线", "offline"),
        "field.online": ("在线", "online"),
        "field.level.grid": ("网格", "grid"),
        "field.level.community": ("社区", "community"),
        "field.level.subdistrict": ("街道", "subdistrict"),
        "field.level.district": ("区", "district"),
        "field.level.department": ("职能部门", "department"),
        "field.satisfaction.satisfied": ("满意", "satisfied"),
        "field.satisfaction.basically_satisfied": ("基本满意", "basically satisfied"),
        "field.satisfaction.dissatisfied": ("不满意", "dissatisfied"),
        "field.reason.role_field": (
            "您的角色不办理案件：请使用驾驶舱查看本区域",
            "your role does not work cases: the dashboard shows this area",
        ),
        "field.reason.role_report": ("您的角色不能上报案件", "your role may not report cases"),
        "field.reason.case_area": ("案件 {id} 不在您的管辖范围内", "case {id} is not in your area"),
        "field.reason.case_department": (
            "案件 {id} 未派遣给您的部门",
            "case {id} is not dispatched to your department",
        ),
        "field.reason.outside": (
            "该地点不在本区任何网格内：请在您的网格内上报",
            "this place is outside every grid: report from inside your grid",
        ),
        "field.reason.other_grid": (
            "该地点位于网格 {grid}，不在您的管辖范围内",
            "this place is in grid {grid}, not in your area",
        ),
        "field.reason.changed": (
            "案件 {id} 在您打开后已被他人更新",
            "case {id} was changed after you opened it",
        ),
        "move.register": ("立案", "Register"),
        "move.void": ("不予立案", "Void"),
        "move.dispatch": ("派遣", "Dispatch"),
        "move.accept": ("接收处置", "Take on"),
        "move.transfer": ("转派", "Transfer"),
        "move.report_back": ("处置反馈", "Report back"),
        "move.close": ("核查结案", "Verify and close"),
        "move.rework": ("发回重办", "Send back"),
        "move.evaluate": ("回访评价", "Evaluate"),
        "move.whistle": ("吹哨", "Whistle"),
    }
)


# The wall display (/wall: gridmap/app/wall.py, assets/wall/wall.js).
CATALOGUE.update(
    {
        "wall.title": ("指挥中心大屏", "Command centre wall"),
        "wall.synthetic": ("演示数据（合成）", "Demo data (synthetic)"),
        "wall.kpi.today_new": ("今日新增", "New today"),
        "wall.kpi.open": ("在办案件", "Open cases"),
        "wall.kpi.overdue_open": ("在办超期", "Open and overdue"),
        "wall.kpi.ontime_rate": ("本月按时办结率 %", "% on time (month)"),
        "wall.kpi.grid_level_share": ("本月小事不出网格 %", "% in the grid (month)"),
        "wall.kpi.satisfaction_rate": ("本月满意率 %", "% satisfied (month)"),
        "wall.kpi.whistle_waiting": ("吹哨待报到", "Whistles waiting"),
        "wall.kpi.late_closed_month": ("本月超期办结", "Closed late (month)"),
        "wall.rank_units.subdistrict": (
            "街道按时办结率排名（本月）",
            "Subdistricts: on time (month)",
        ),
        "wall.rank_units.community": ("社区按时办结率排名（本月）", "Communities: on time (month)"),
        "wall.rank_units.grid": ("网格按时办结率排名（本月）", "Grids: on time"),
        "wall.rank_departments": ("部门在办超期排名", "Departments: overdue open"),
        "wall.categories": ("本周案件类别（较上周同期）", "This week vs last week"),
        "wall.feed": ("最新动态", "Latest"),
        "wall.feed_new": ("新案件", "new case"),
        "wall.trend7": ("近7日 新增／办结", "7 days: new / closed"),
        "wall.trend30": ("近30日 新增／办结", "30 days: new / closed"),
        "wall.new": ("新增", "new"),
        "wall.closed": ("办结", "closed"),
        "wall.alerts": ("告警（待确认）", "Alerts (to acknowledge)"),
        "wall.alerts_none": ("暂无告警", "No alerts"),
        "wall.alert.emergency_overdue": ("突发事件超期未办结", "Emergency case overdue"),
        "wall.alert.whistle_late": ("吹哨超时未报到", "Whistle unanswered past its deadline"),
        "wall.alert_since": ("自 {time} 起", "since {time}"),
        "wall.alert_more": ("另有 {n} 条", "{n} more"),
        "wall.map": ("在办案件分布", "Open cases"),
        "wall.legend": ("在办案件数", "Open cases"),
        "wall.legend_case": ("在办", "open"),
        "wall.legend_overdue": ("超期", "overdue"),
        "wall.age": ("{time} 的数据", "data of {time}"),
        "wall.age_seconds": ("{n}秒前", "{n} s ago"),
        "wall.age_minutes": ("{n}分钟前", "{n} min ago"),
        "wall.lost": (
            "连接中断，自 {time} 起 · 正在自动重试",
            "Connection lost since {time} · retrying",
        ),
        "wall.store_lost": (
            "数据库无法访问，自 {time} 起 · 正在自动重试",
            "Database unavailable since {time} · retrying",
        ),
        "wall.signed_out": (
            "大屏令牌已失效，请联系管理员",
            "The wall token is no longer valid: ask an administrator",
        ),
        "wall.none": ("—", "—"),
        "wall.more": ("共 {n} 个", "{n} in all"),
        "wall.tour": ("轮播", "Tour"),
        "wall.level_refused": (
            "大屏显示社区及以上单元；您的账号管辖范围是网格",
            "A wall shows a community or above; your account's area is a grid",
        ),
        "wall.ack.title": ("大屏告警确认", "Wall alerts"),
        "wall.ack.button": ("确认", "Acknowledge"),
        "wall.ack.none": ("暂无待确认的告警", "No alert to acknowledge"),
        "wall.ack.done": ("已确认：{id}", "Acknowledged: {id}"),
        "wall.ack.open_wall": ("打开大屏", "Open the wall"),
        "wall.ack.case": ("案件", "Case"),
        "wall.ack.kind": ("告警", "Alert"),
        "wall.ack.where": ("位置", "Where"),
        "wall.ack.since": ("超时起", "Late since"),
        "wall.ack.refused": ("您的角色不能确认告警", "Your role may not acknowledge alerts"),
    }
)


def t(key: str, lang: str = "zh", **values: object) -> str:
    """The label of ``key`` in ``lang``, its ``{placeholders}`` filled from ``values``.

    Parameters
    ----------
    key
        A catalogue key, ``<group>.<identifier>`` (e.g. ``facility.clinic``).
    lang
        ``zh`` (default) or ``en``.
    **values
        Values for the text's ``{name}`` placeholders (none: the text as it is).

    Returns
    -------
    str
        The label; the key itself if the catalogue has no such key, so an
        unlabelled identifier stays readable instead of failing a report.

    Raises
    ------
    ValueError
        If ``lang`` is not one of :data:`LANGS`.
    """
    try:
        i = LANGS.index(lang)
    except ValueError:
        raise ValueError(f"unknown language {lang!r}; use one of {', '.join(LANGS)}") from None
    pair = CATALOGUE.get(key)
    text = key if pair is None else pair[i]
    return text.format(**values) if values else text


def label(group: str, identifier: str, lang: str = "zh") -> str:
    """The label of an identifier of a group: ``label("facility", "clinic")``.

    Parameters
    ----------
    group
        The key's group (``level``, ``facility``, ``party_kind``, ``use``,
        ``step``, ``category``, ``source`` …).
    identifier
        The identifier within the group.
    lang
        ``zh`` (default) or ``en``.

    Returns
    -------
    str
        The label, or the bare identifier if the catalogue lacks it.
    """
    key = f"{group}.{identifier}"
    out = t(key, lang)
    return identifier if out == key else out
