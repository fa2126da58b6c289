"""Import problems, outcomes and errors in Chinese, keyed by their message code: CHINESE holds a text for every code
of analytics.messages.ENGLISH, with the same parameters, and `message_text` renders a Message, a RowIssue's problem
or a KeyfunnelError in the app's language. No English text is ever parsed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analytics.domain import OUTCOME_NAMES
from analytics.exceptions import KeyfunnelError
from analytics.messages import Message, Template, render


def _imported(p: Mapping[str, Any]) -> str:
    text = f"批次 {p['batch']}:新增 {p['inserted']:,} 个商机,更新 {p['updated']:,} 个,新增 {p['events']:,} 条阶段记录"
    if p["changes"]:
        text += f",新增 {p['changes']:,} 条预计成交日期或金额的变更"
    if p["skipped"]:
        text += (f";跳过 {p['skipped']:,} 行({p['problems']:,} 个问题),已保存在 rejected_rows 中:"
                 f"{p['total']:,} 行中导入了 {p['kept']:,} 行({p['share']})")
    return text


def _rejected(p: Mapping[str, Any]) -> str:
    return (f"已拒绝:{p['rows']:,} 行中共有 {p['problems']:,} 个问题;数据库未作任何改动" if p["rows"] else
            f"已拒绝:共有 {p['problems']:,} 个问题;数据库未作任何改动")


_DATE_FORMS = "YYYY-MM-DD、YYYY/M/D 或 YYYY年M月D日"

CHINESE: dict[str, Template] = {
    # a cell
    "required_missing": "缺少必填值",
    "not_an_amount": "不是金额",
    "not_an_amount_comma_undeclared": "不是金额(小数逗号须先声明)",
    "not_an_amount_profile_comma": "不是金额(配置的小数点符号为“,”)",
    "amount_negative": "金额不能为负数",
    "amount_too_large": "金额大得不合常理",
    "not_a_date": f"不是日期:请使用 {_DATE_FORMS}",
    "not_a_date_in_order": "不是日期(按 {order} 顺序读取)",
    "date_out_of_range": "日期超出范围(1970–2100)",
    "bad_outcome": "结果必须是 赢单、丢单 或 进行中(won、lost、open)",
    "bad_tier": "客户级别必须是 A、B、C 或 D",
    "bad_score": "评分必须是 1–5 的整数",
    "not_boolean": "必须是 true 或 false",
    "not_true_or_false": "不是 true 或 false",
    "too_long": "值超过 {limit} 个字符",
    "unknown_stage": "未知阶段:请使用 1–8、阶段代码或阶段的中英文名称",
    "deal_row_rejected": "该商机所在的行已被拒绝",
    "deal_not_found": "商机文件中没有这个商机编号",
    "conflicting_duplicate": "商机编号出现在第 {rows} 行,取值不一致",
    "duplicate_kept_once": "与第 {row} 行重复:只保留一行",
    # a row or a column
    "too_many_columns": "列数过多:应为 {expected} 列",
    "too_few_columns": "列数过少:应为 {expected} 列",
    "badly_quoted": "引号使用不当",
    "invalid_characters": "包含无效字符",
    "unreadable_row": "无法读取该行({detail})",
    "required_column_missing": "缺少必需的列",
    "required_column_not_found": "缺少必需的列:找不到 {tried}(请在配置的列映射中指定)",
    "column_not_recognised": "无法识别的列:作为附加数据随商机保存",
    # warnings
    "amount_missing": "{total:,} 个商机中有 {n:,} 个缺少金额:计入所有按数量计算的指标,不计入金额合计;预测对这样的在途商机按其"
                      "阶段的金额中位数计",
    "account_missing": "{total:,} 个商机中有 {n:,} 个缺少客户:这些商机各自独立,不与其他商机归为同一客户",
    "created_at_missing": "{total:,} 个商机中有 {n:,} 个缺少创建日期:有阶段记录的以第一条阶段记录的日期为准,否则不计入同期群、"
                          "创建日期筛选和成交周期",
    "control_removed": "已从该值中删除 NUL 字节或控制字符",
    "not_scores": "列名与评估评分“{factor}”相同,但其中没有 1–5 的评分:作为附加数据保存",
    "derived_key": "没有编号列:每个商机的键由 {columns} 生成;同一导出文件或这些值未变的后续导出会对应到相同的商机",
    "same_key": "第 {rows} 行的 {columns} 相同:按文件顺序编号,保留为 {n} 个商机",
    "outcome_disagrees": "{header} 与 {decided_by} 在 {n:,} 行中不一致(第 {rows} 行):以 {decided_by} 决定结果",
    "key_column_not_found": "找不到键列:key_columns 必须是文件中的表头",
    "no_key": "没有编号列,也没有可用于生成键的名称、客户或创建日期:请在配置中映射 deal_id 或 key_columns",
    "no_stage_column": "没有商机阶段或结果列:请在配置的列映射中指定 stage 或 outcome",
    "history_needs_id": "阶段历史通过商机编号与商机关联:商机文件需要编号列",
    "report_footer": "最后 {n:,} 行是报表的页脚(标题、合计、版权),不是商机:已跳过",
    "in_the_future": "{n:,} 行的 {column} 晚于今天:属于导出文件的未来日期,已保留,但不用于确定截至日期",
    "amount_zero": "金额为 0",
    "closed_before_created": "关闭日期早于创建日期",
    "closed_without_date": lambda p: f"商机已{OUTCOME_NAMES[p['outcome']][0]},但没有关闭日期",
    "entered_after_close": "商机关闭之后才进入该阶段",
    "lost_after_signing": "丢单,但阶段历史到达了阶段 8(已签约后丢单):计为在阶段 7 丢单",
    "won_without_signing": "赢单,但阶段历史未到达阶段 8:按关闭日期计为签约",
    # a file
    "looks_like_history": "这像是阶段历史文件:请把它作为阶段历史,放在商机文件之后上传",
    "wide_with_history": "宽格式商机文件已包含各阶段日期:请不要再上传阶段历史",
    "file_not_found": "找不到文件",
    "file_empty": "文件为空",
    "file_unreadable": "无法读取文件({detail})",
    "not_csv_parseable": "无法按 CSV 解析该文件({detail})",
    "not_csv_kind": lambda p: f"这是{'PDF 文档' if p['kind'] == 'PDF' else ' ' + p['kind'] + ' 图片'},不是 CSV 文件",
    "workbook_not_csv": "这是 Excel 工作簿,不是 CSV 文件:请在 Excel 中另存为 CSV UTF-8",
    "nul_bytes": "文件包含 NUL 字节:它是二进制文件,或是没有字节序标记的 UTF-16;请另存为 CSV UTF-8",
    "undecodable": "无法按 UTF-8、GB18030/GBK 或 Windows-1252 解码该文件",
    "undecodable_as": "无法按 {encoding} 解码该文件(第 {byte} 字节)",
    "first_line_empty": "第一行为空:第一行必须是列名",
    "header_unreadable": "无法读取表头行({detail})",
    "header_nul": "表头包含 NUL 字符:该文件不是文本 CSV",
    "workbook_unreadable": "无法读取该工作簿({detail})",
    "no_such_sheet": "没有工作表 {sheet!r};该工作簿包含 {sheets}",
    "workbook_empty": "该工作簿中没有包含数据的工作表",
    "sheet_empty": "工作表 {sheet!r} 为空",
    # a CRM export
    "unmapped_stage": "有 {n:,} 行的阶段名称尚未映射:请在配置中映射到阶段 1–8、赢单或丢单",
    "unmapped_outcome": "有 {n:,} 行的结果值尚未映射:请在配置中映射到赢单、丢单或进行中",
    "no_snapshot_date": "没有 snapshot_date 列,文件名中也没有日期(YYYY-MM-DD)",
    "several_currencies": "存在多种币种({listed}):请在配置中设置报告币种和各币种的汇率",
    "no_rate": "缺少 {code} 的汇率({n} 个商机):请在配置中添加 rates.{code}(1 {code} = ? {reporting})",
    "mixed_date_order": "日期同时有日在前和月在前两种写法:请在配置中设置 date_order",
    "ambiguous_date": "该日期既可读作月/日,也可读作日/月:请在配置中把 date_order 设为 MDY 或 DMY",
    "generic_files": "通用导入应为一个商机文件,可另加一个阶段历史文件(收到 {deals} 个商机文件、{histories} 个历史文件)",
    "salesforce_files": "Salesforce 导入应为一个 Opportunity 导出文件,可另加一个 OpportunityHistory 导出文件(收到 "
                        "{opportunities} 个商机文件、{histories} 个历史文件)",
    "hubspot_files": "HubSpot 导入应为一个 deals 导出文件(收到 {n} 个文件)",
    "dynamics_files": "Dynamics 365 导入应为一个 opportunities 导出文件(收到 {n} 个文件)",
    "not_a_crm_export": "无法识别的 CRM 导出文件:请选择一个配置(salesforce、hubspot、dynamics365、snapshots 或已保存的配置)",
    # a mapping profile
    "profile_name": "配置名称 {name!r}:只能使用字母、数字、空格、“-”、“_” 或 “.”",
    "no_profile": "没有配置 {name!r}:已有的配置为 {known};也可以指定一个 .json 或 .toml 文件",
    "profile_unreadable": "无法读取配置({detail})",
    "profile_not_parsed": "不是有效的 {kind}({detail})",
    "profile_not_object": "配置必须是由键组成的对象",
    "profile_unknown_keys": "未知的键 {unknown};可用的键:{known}",
    "profile_preset": "预设 {preset!r} 不在 {presets} 之中",
    "profile_not_table": "{key} 必须是“名称 = 值”的表",
    "profile_columns": "columns.{field} 必须是一个表头名称或表头名称的列表",
    "profile_stage": "stages.{label!r} = {target!r}:阶段只能映射到 1–8、won 或 lost",
    "profile_outcome": "outcomes.{value!r} = {outcome!r}:请使用 won、lost 或 open",
    "profile_date_order": "date_order {value!r} 不在 {orders} 之中",
    "profile_decimal_mark": "decimal_mark {value!r} 必须是 “.” 或 “,”",
    "profile_rate": "rates.{code} = {rate!r}:汇率必须是正数",
    "profile_currency": "币种 {value!r} 必须是 CNY 这样的货币代码",
    "profile_key_columns": "key_columns 必须是表头名称的列表",
    # undo
    "no_batch": "不存在批次 {batch}",
    "batch_undone": "批次 {batch} 已经撤销",
    "batch_blocked": "批次 {batch} 无法撤销:之后的批次({later})修改了相同的商机,请先撤销它们",
    # the store
    "store_busy": "数据库正忙,请稍后再试:{path} 正被另一个 keyfunnel 进程使用(例如命令行导入)",
    "store_busy_writer": "数据库正忙:已等待 {seconds} 秒,{holder} 仍在写入 {path};请在它完成后重试"
                         "(`keyfunnel batches` 列出已导入的批次),或用 --wait 秒数 等待更久",
    "store_waiting": "正在等待 {holder} 写完数据库({seconds} 秒)",
    "store_failed": "无法打开或查询数据库({detail})",
    "store_out_of_memory": "数据库用完了 keyfunnel 允许的内存({limit};DuckDB:{detail})。这一步没有写入任何内容。"
                           "请放宽后重试:设置 KEYFUNNEL_MEMORY_LIMIT=4GB(一百万个商机约需 1GB,两百万个需要更多)",
    "backup_path": "备份文件夹的路径不能包含引号或换行符",
    "not_a_backup": "这不是 keyfunnel 备份(没有 load.sql):请用 `keyfunnel export-db` 生成备份",
    "restore_exists": "{path} 已存在:请恢复到一个新的数据库文件(--db NEW.duckdb)",
    # an import's progress
    "reading": "正在读取 {file}",
    "parsing": "正在解析 {file}",
    "checking": "正在校验 {file}",
    "comparing": "正在与数据库比对",
    "writing": "正在写入批次 {batch}",
    "computing_facts": "正在计算商机指标",
    "done": "完成",
    # an import's outcome
    "imported": _imported,
    "already_imported": "已作为批次 {batch} 导入:没有任何变化",
    "nothing_new": "所有商机和阶段记录都已在数据库中:没有任何变化",
    "no_rows": "{file}:文件中没有数据行:没有任何变化",
    "rejected": _rejected,
    "rejected_unmapped": "已拒绝:有 {n} 个阶段名称尚未映射:{listed};数据库未作任何改动",
    # plans: targets, teams and forecast calls
    "not_a_plans_file": "不是目标、团队或预测提报文件:目标文件需有 期间、负责人(或 团队、区域)和 目标 列;团队文件需有 负责人 和 团队;"
                        "提报文件需有 期间、负责人、承诺、最佳情况 和 填报日期",
    "bad_period": "不是有效期间:请写季度(2026Q4)或月份(2026-11)",
    "plan_unit_missing": "每一行需要填写以下之一:{kinds}",
    "plan_units_several": "每行只能有一个对象:这一行还填写了 {first}",
    "unknown_owner": "没有任何商机属于这个负责人",
    "unknown_team": "没有这个团队:请先在团队文件(或 团队 列)中列出其成员",
    "unknown_region": "没有任何商机属于这个区域",
    "unknown_owner_named": "没有任何商机属于负责人 {name}",
    "unknown_team_named": "没有团队 {name}:请先导入团队文件",
    "duplicate_target": "{period} 对同一对象的第二个目标(第一个在第 {row} 行)",
    "team_conflict": "{owner} 已属于团队 {team}({file} 第 {row} 行)",
    "best_below_commit": "最佳情况低于承诺金额({commit:,.0f})",
    "call_not_quarter": "预测提报针对季度(如 2026Q4),而不是 {period!r}",
    "call_amount_invalid": "承诺和最佳情况必须是不小于 0 的金额",
    "plans_imported": lambda p: (f"批次 {p['batch']}:新增" + "、".join(
        f"{p[k]:,} {noun}" for k, noun in (("targets", "个目标"), ("teams", "条团队成员"), ("calls", "条预测提报"))
        if p[k])),
    "no_teams": "尚无团队:请导入团队文件(负责人、团队、经理)后再按团队查看达成",
    "plans_nothing_new": "所有目标、团队和提报都已在数据库中:没有任何变化",
    "rejected_every_row": "已拒绝:每一行都有问题({rows:,} 行中共 {problems:,} 个问题):没有可导入的内容;数据库未作任何改动",
}



def message_text(said: Message | KeyfunnelError | str | None, lang: str = "en") -> str | None:
    """A message, or an error ("FILE: reason"), in the app's language. Plain text (an error only the CLI
    raises, a library's words) is shown as written."""
    if said is None or isinstance(said, str):
        return said
    if isinstance(said, KeyfunnelError):
        text = message_text(said.message, lang)
        return f"{said.file}{':' if lang == 'zh' else ': '}{text}" if said.file else text
    if lang != "zh":
        return str(said)
    return render(CHINESE[said.code], said.params)
