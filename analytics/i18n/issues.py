"""Import problems and outcomes in Chinese: the importer writes them in English (the CLI's and the JSON's words), and
each English pattern here has its Chinese rendering."""

from __future__ import annotations

import re

from analytics.domain import OUTCOME_NAMES

# Import problems and outcomes. The importer and the CRM conversion write them in English, the language of the CLI
# and its JSON; the app shows them in Chinese through these patterns (matched whole, in order). A text no pattern
# matches is shown as written.
_REPR = r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s:'"]+)"""  # a value as repr() writes it
_ISSUES_ZH: tuple[tuple[str, str], ...] = (
    # cells
    (r"required value missing", "缺少必填值"),
    (r"not an amount \(a decimal comma must be declared\)", "不是金额(小数逗号须先声明)"),
    (r"not an amount \(the profile's decimal mark is ','\)", "不是金额(配置的小数点符号为“,”)"),
    (r"not an amount", "不是金额"),
    (r"amount must not be negative", "金额不能为负数"),
    (r"amount implausibly large", "金额大得不合常理"),
    (r"not a date: use YYYY-MM-DD, YYYY/M/D or YYYY年M月D日", "不是日期:请使用 YYYY-MM-DD、YYYY/M/D 或 YYYY年M月D日"),
    (r"not a date \(read in (\w+) order\)", r"不是日期(按 \1 顺序读取)"),
    (r"date out of range \(1970–2100\)", "日期超出范围(1970–2100)"),
    (r"outcome must be won, lost or open \(赢单, 丢单, 进行中\)", "结果必须是 赢单、丢单 或 进行中(won、lost、open)"),
    (r"tier must be A, B, C or D", "客户级别必须是 A、B、C 或 D"),
    (r"score must be a whole number 1–5", "评分必须是 1–5 的整数"),
    (r"must be true or false", "必须是 true 或 false"),
    (r"not true or false", "不是 true 或 false"),
    (r"value longer than ([\d,]+) characters", r"值超过 \1 个字符"),
    (r"unknown stage: use 1–8, the stage key, or its English or Chinese name", "未知阶段:请使用 1–8、阶段代码或阶段的中英文名称"),
    (r"the deal's own row was rejected", "该商机所在的行已被拒绝"),
    (r"deal_id not found among the deals", "商机文件中没有这个商机编号"),
    (r"deal_id appears on rows (.+) with different values", r"商机编号出现在第 \1 行,取值不一致"),
    (r"duplicate of row ([\d,]+): kept once", r"与第 \1 行重复:只保留一行"),
    # rows and columns
    (r"too many columns: expected ([\d,]+)", r"列数过多:应为 \1 列"),
    (r"too few columns: expected ([\d,]+)", r"列数过少:应为 \1 列"),
    (r"badly quoted value", "引号使用不当"),
    (r"invalid characters", "包含无效字符"),
    (r"required column missing: none of (.+) \(map it in the profile's columns\)",
     r"缺少必需的列:找不到 \1(请在配置的列映射中指定)"),
    (r"required column missing", "缺少必需的列"),
    (r"column not recognised: kept with the deal as extra data", "无法识别的列:作为附加数据随商机保存"),
    # warnings
    (r"amount missing for ([\d,]+) of ([\d,]+) deals?: counted in every count-based figure, left out of amount sums; "
     r"the forecast counts an open one at its stage's median amount",
     r"\2 个商机中有 \1 个缺少金额:计入所有按数量计算的指标,不计入金额合计;预测对这样的在途商机按其阶段的金额中位数计"),
    (r"account missing for ([\d,]+) of ([\d,]+) deals?: each such deal stands alone: no account groups it with others",
     r"\2 个商机中有 \1 个缺少客户:这些商机各自独立,不与其他商机归为同一客户"),
    (r"created_at missing for ([\d,]+) of ([\d,]+) deals?: dated by its first stage event where it has one, else left out "
     r"of cohorts, created-date filters and cycle time",
     r"\2 个商机中有 \1 个缺少创建日期:有阶段记录的以第一条阶段记录的日期为准,否则不计入同期群、创建日期筛选和成交周期"),
    (r"NUL bytes or control characters removed from the value", "已从该值中删除 NUL 字节或控制字符"),
    (r"named like the evaluation score '(\w+)' but holds no score 1–5: kept as extra data",
     r"列名与评估评分“\1”相同,但其中没有 1–5 的评分:作为附加数据保存"),
    (r"no ID column: each deal's key is derived from (.+); the same export, or a later one with these values "
     r"unchanged, finds the same deals", r"没有编号列:每个商机的键由 \1 生成;同一导出文件或这些值未变的后续导出会对应到相同的商机"),
    (r"rows (.+) have the same (.+): kept as ([\d,]+) deals, numbered in file order",
     r"第 \1 行的 \2 相同:按文件顺序编号,保留为 \3 个商机"),
    (r"(.+) disagrees with (.+) on ([\d,]+) rows? \(rows (.+)\): (.+) decide the outcome",
     r"\1 与 \2 在 \3 行中不一致(第 \4 行):以 \5 决定结果"),
    (r"key column not found: key_columns must name headers of the file", "找不到键列:key_columns 必须是文件中的表头"),
    (r"no ID column, and no name, account or creation date to derive a key from: map deal_id or key_columns in the "
     r"profile", "没有编号列,也没有可用于生成键的名称、客户或创建日期:请在配置中映射 deal_id 或 key_columns"),
    (r"no column for the deal's stage or outcome: map stage or outcome in the profile's columns",
     "没有商机阶段或结果列:请在配置的列映射中指定 stage 或 outcome"),
    (r"a stage history is linked to its deals by their ID: the deals file needs an ID column",
     "阶段历史通过商机编号与商机关联:商机文件需要编号列"),
    (r"a generic import is one deals file, optionally with one stage history file \(got ([\d,]+) deals and ([\d,]+) "
     r"history files\)", r"通用导入应为一个商机文件,可另加一个阶段历史文件(收到 \1 个商机文件、\2 个历史文件)"),
    (r"the last ([\d,]+) lines? are a report's footer \(title, totals, copyright\), not deals: skipped",
     r"最后 \1 行是报表的页脚(标题、合计、版权),不是商机:已跳过"),
    (r"cannot read the workbook \((.+)\)", r"无法读取该工作簿(\1)"),
    (r"no sheet (.+); the workbook has (.+)", r"没有工作表 \1;该工作簿包含 \2"),
    (r"the workbook has no sheet with data", "该工作簿中没有包含数据的工作表"),
    (r"sheet (.+) is empty", r"工作表 \1 为空"),
    (r"(a PNG image|a JPEG image|a GIF image|a PDF document), not a CSV file", "这是图片或 PDF 文件,不是 CSV 文件"),
    (r"(created_at|closed_at|entered_at) after today on ([\d,]+) rows?: in the export's future, kept, but not used to "
     r"set the as-of date", r"\2 行的 \1 晚于今天:属于导出文件的未来日期,已保留,但不用于确定截至日期"),
    (r"amount is 0", "金额为 0"),
    (r"closed before it was created", "关闭日期早于创建日期"),
    (r"deal is (won|lost) but has no closed_at", "商机已{0},但没有关闭日期"),
    (r"stage entered after the deal closed", "商机关闭之后才进入该阶段"),
    (r"lost, but the stage history reaches stage 8 \(signed, then lost\): counted as lost at stage 7",
     "丢单,但阶段历史到达了阶段 8(已签约后丢单):计为在阶段 7 丢单"),
    (r"won, but the stage history never reaches stage 8: counted as signed at closed_at",
     "赢单,但阶段历史未到达阶段 8:按关闭日期计为签约"),
    # files
    (r"this looks like a stage history: pass it with --history, after the deals file",
     "这像是阶段历史文件:请把它作为阶段历史,放在商机文件之后上传"),
    (r"a wide deals file already holds the stage dates; do not pass --history as well",
     "宽格式商机文件已包含各阶段日期:请不要再上传阶段历史"),
    (r"database busy, try again: (.+) is in use by another keyfunnel process",
     r"数据库正忙,请稍后再试:\1 正被另一个 keyfunnel 进程使用(例如命令行导入)"),
    (r"file not found", "找不到文件"),
    (r"the file is empty", "文件为空"),
    (r"cannot read the file \((.+)\)", r"无法读取文件(\1)"),
    (r"the file cannot be parsed as CSV \((.+)\)", r"无法按 CSV 解析该文件(\1)"),
    (r"an Excel workbook, not a CSV file: in Excel, save it as CSV UTF-8",
     "这是 Excel 工作簿,不是 CSV 文件:请在 Excel 中另存为 CSV UTF-8"),
    (r"the file contains NUL bytes: it is binary, or UTF-16 without a byte-order mark; save it as CSV UTF-8",
     "文件包含 NUL 字节:它是二进制文件,或是没有字节序标记的 UTF-16;请另存为 CSV UTF-8"),
    (r"cannot decode the file as UTF-8, GB18030/GBK or Windows-1252", "无法按 UTF-8、GB18030/GBK 或 Windows-1252 解码该文件"),
    (r"cannot decode the file as (\S+) \(byte ([\d,]+)\)", r"无法按 \1 解码该文件(第 \2 字节)"),
    (r"the first line is empty; it must hold the column names", "第一行为空:第一行必须是列名"),
    (r"cannot read the header line \((.+)\)", r"无法读取表头行(\1)"),
    (r"the header contains NUL characters: the file is not a text CSV", "表头包含 NUL 字符:该文件不是文本 CSV"),
    # CRM conversion
    (r"unmapped stage name on ([\d,]+) rows?: map it to a stage 1–8, won or lost in the profile",
     r"有 \1 行的阶段名称尚未映射:请在配置中映射到阶段 1–8、赢单或丢单"),
    (r"unmapped outcome value on ([\d,]+) rows?: map it to won, lost or open in the profile",
     r"有 \1 行的结果值尚未映射:请在配置中映射到赢单、丢单或进行中"),
    (r"no snapshot_date column and no date \(YYYY-MM-DD\) in the file name",
     "没有 snapshot_date 列,文件名中也没有日期(YYYY-MM-DD)"),
    (r"several currencies \((.+)\): set the reporting currency and a rate for each in the profile",
     r"存在多种币种(\1):请在配置中设置报告币种和各币种的汇率"),
    (r"no exchange rate for (\S+) \(([\d,]+) deals\): add rates\.\S+ \(1 \S+ = \? (\S+)\) to the profile",
     r"缺少 \1 的汇率(\2 个商机):请在配置中添加 rates.\1(1 \1 = ? \3)"),
    (r"dates are written both day-first and month-first: set date_order in the profile",
     "日期同时有日在前和月在前两种写法:请在配置中设置 date_order"),
    (r"this date can be read as month/day or day/month: set date_order to MDY or DMY in the profile",
     "该日期既可读作月/日,也可读作日/月:请在配置中把 date_order 设为 MDY 或 DMY"),
    (r"a Salesforce import is one Opportunity export, optionally with one OpportunityHistory export "
     r"\(got ([\d,]+) opportunity and ([\d,]+) history files\)",
     r"Salesforce 导入应为一个 Opportunity 导出文件,可另加一个 OpportunityHistory 导出文件(收到 \1 个商机文件、\2 个历史文件)"),
    (r"a HubSpot import is one deals export \(got ([\d,]+) files\)", r"HubSpot 导入应为一个 deals 导出文件(收到 \1 个文件)"),
    (r"a Dynamics 365 import is one opportunities export \(got ([\d,]+) files\)",
     r"Dynamics 365 导入应为一个 opportunities 导出文件(收到 \1 个文件)"),
    (r"not a recognised CRM export; choose a profile \(salesforce, hubspot, dynamics365, snapshots or a saved one\)",
     "无法识别的 CRM 导出文件:请选择一个配置(salesforce、hubspot、dynamics365、snapshots 或已保存的配置)"),
    # mapping profiles: a name to save under, or a saved file edited by hand. Values are matched as repr() writes
    # them ('Demo', 9, None), so that "FILE: stages.'Demo' = 9: …" is not taken whole for "stages.…".
    (r"profile name (.+): use letters, digits, spaces, '-', '_' or '\.'",
     r"配置名称 \1:只能使用字母、数字、空格、“-”、“_” 或 “.”"),
    (r"no profile (.+): known profiles are (.+); or pass a \.json or \.toml file",
     r"没有配置 \1:已有的配置为 \2;也可以指定一个 .json 或 .toml 文件"),
    (r"cannot read the profile \((.+)\)", r"无法读取配置(\1)"),
    (r"not valid (JSON|TOML) \((.+)\)", r"不是有效的 \1(\2)"),
    (r"a profile is an object of keys", "配置必须是由键组成的对象"),
    (r"unknown key\(s\) (.+); known keys: (.+)", r"未知的键 \1;可用的键:\2"),
    (rf"preset {_REPR} is not one of (.+)", r"预设 \1 不在 \2 之中"),
    (r"(\w+) must be a table of name = value", r"\1 必须是“名称 = 值”的表"),
    (r"columns\.(\w+) must be a header name or a list of them", r"columns.\1 必须是一个表头名称或表头名称的列表"),
    (rf"stages\.{_REPR} = {_REPR}: map a stage to 1–8, 'won' or 'lost'", r"stages.\1 = \2:阶段只能映射到 1–8、won 或 lost"),
    (rf"outcomes\.{_REPR} = {_REPR}: use won, lost or open", r"outcomes.\1 = \2:请使用 won、lost 或 open"),
    (rf"date_order {_REPR} is not one of (.+)", r"date_order \1 不在 \2 之中"),
    (rf"decimal_mark {_REPR} must be '\.' or ','", r"decimal_mark \1 必须是 “.” 或 “,”"),
    (rf"rates\.(\w+) = {_REPR}: a rate is a positive number", r"rates.\1 = \2:汇率必须是正数"),
    (rf"currency {_REPR} must be a currency code such as CNY", r"币种 \1 必须是 CNY 这样的货币代码"),
    # undo
    (r"there is no batch ([\d,]+)", r"不存在批次 \1"),
    (r"batch ([\d,]+) is already undone", r"批次 \1 已经撤销"),
    (r"batch ([\d,]+) cannot be undone while later batches \((.+)\) changed the same deals: undo those first",
     r"批次 \1 无法撤销:之后的批次(\2)修改了相同的商机,请先撤销它们"),
    # an import's outcome
    (r"rejected: ([\d,]+) problems? in ([\d,]+) rows?; the database is unchanged", r"已拒绝:\2 行中共有 \1 个问题;数据库未作任何改动"),
    (r"rejected: ([\d,]+) problems?; the database is unchanged", r"已拒绝:共有 \1 个问题;数据库未作任何改动"),
    (r"rejected: ([\d,]+) unmapped stage names: (.+); the database is unchanged",
     r"已拒绝:有 \1 个阶段名称尚未映射:\2;数据库未作任何改动"),
    # an import's progress
    (r"reading (.+)", r"正在读取 \1"),
    (r"parsing (.+)", r"正在解析 \1"),
    (r"checking (.+)", r"正在校验 \1"),
    (r"comparing with the database", "正在与数据库比对"),
    (r"writing batch ([\d,]+)", r"正在写入批次 \1"),
    (r"computing per-deal facts", "正在计算商机指标"),
    (r"done", "完成"),
    (r"already imported as batch ([\d,]+): nothing changed", r"已作为批次 \1 导入:没有任何变化"),
    (r"every deal and stage event is already in the database: nothing changed", "所有商机和阶段记录都已在数据库中:没有任何变化"),
    (r"every deal, stage event and change is already in the database: nothing changed",
     "所有商机、阶段记录和变更都已在数据库中:没有任何变化"),
    (r"no rows of data: nothing changed", "文件中没有数据行:没有任何变化"),
    (r"batch ([\d,]+): ([\d,]+) deals? added, ([\d,]+) updated, ([\d,]+) stage events? added"
     r"(?:, ([\d,]+) close-date or amount changes? added)?"
     r"(?:; ([\d,]+) rows? skipped \(([\d,]+) problems?\), kept in rejected_rows: ([\d,]+) of ([\d,]+) rows "
     r"imported \((\d+\.\d%)\))?",
     "_import_summary"),
    (r"rejected: every row has a problem \(([\d,]+) problems? in ([\d,]+) rows?\): nothing to import; the database is "
     r"unchanged", r"已拒绝:每一行都有问题(\2 行中共 \1 个问题):没有可导入的内容;数据库未作任何改动"),
)
_ISSUES_ZH_COMPILED = tuple((re.compile(pattern), zh) for pattern, zh in _ISSUES_ZH)


def _import_summary(m: re.Match) -> str:
    text = f"批次 {m[1]}:新增 {m[2]} 个商机,更新 {m[3]} 个,新增 {m[4]} 条阶段记录"
    text += f",新增 {m[5]} 条预计成交日期或金额的变更" if m[5] else ""
    return text + (f";跳过 {m[6]} 行({m[7]} 个问题),已保存在 rejected_rows 中:{m[9]} 行中导入了 {m[8]} 行({m[10]})"
                   if m[6] else "")


def issue_text(text: str | None, lang: str = "en") -> str | None:
    """An import problem's reason, an import's outcome or an import or undo error ("FILE: reason"), in the app's
    language."""
    if lang != "zh" or not text:
        return text
    for pattern, zh in _ISSUES_ZH_COMPILED:
        m = pattern.fullmatch(text)
        if m:
            if zh == "_import_summary":
                return _import_summary(m)
            if "{0}" in zh:
                return zh.format(OUTCOME_NAMES[m[1]][0])  # the pattern admits won or lost only
            return m.expand(zh)
    name, sep, reason = text.partition(": ")  # errors about a file name it first
    if sep and reason:
        translated = issue_text(reason, lang)
        if translated != reason:
            return f"{name}:{translated}"
    return text
