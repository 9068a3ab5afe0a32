"""Console words, Chinese first with English available."""
from __future__ import annotations

WORDS: dict[str, tuple[str, str]] = {
    "title": ("退休“一件事”督查督办平台", "Retirement one-thing supervision console"),
    "overview": ("督查总览", "Overview"), "cases": ("办件查询", "Cases"),
    "deliveries": ("投递", "Deliveries"), "endpoints": ("接口健康", "Endpoints"),
    "notices": ("通知", "Notices"), "reports": ("时效报表", "Reports"),
    "audit": ("审计日志", "Audit log"), "users": ("用户", "Users"),
    "diagnostics": ("运行诊断", "Diagnostics"), "registry": ("合同注册", "Registry"),
    "login": ("登录", "Log in"), "logout": ("退出", "Log out"),
    "username": ("用户名", "User name"), "password": ("密码", "Password"),
    "totp": ("动态验证码（运维员、管理员必填）", "One-time code (operators and admins)"),
    "by_member": ("按部门", "By department"), "by_city": ("按设区市", "By city"),
    "member": ("部门", "Department"), "city": ("设区市", "City"),
    "open": ("在办", "Open"), "due_soon": ("临期（黄牌）", "Due soon"),
    "overdue": ("超期（红牌）", "Overdue"), "seriously_overdue": ("严重超期", "Seriously overdue"),
    "completed": ("办结", "Completed"), "on_time_pct": ("按期办结率", "On time"),
    "median_days": ("中位时长(工作日)", "Median (working days)"),
    "p90_days": ("P90时长(工作日)", "p90 (working days)"),
    "standalone": ("转单独办理", "Standalone"), "cancelled": ("已取消", "Cancelled"),
    "trend": ("近12周趋势（绿：按期办结，橙：超期办结，红点：新增超期）",
              "Last 12 weeks (green: in time, orange: late, red: new overdue)"),
    "search": ("查询", "Search"), "case_id": ("办件编号", "Case id"),
    "state": ("状态", "State"), "level": ("督办等级", "Warning level"),
    "from": ("起", "From"), "to": ("止", "To"), "created": ("受理时间", "Accepted"),
    "items": ("关联事项", "Linked items"), "history": ("办理历史", "History"),
    "issues": ("异常报告", "Issues reported"), "personal": ("个人信息", "Personal data"),
    "reveal": ("查看明文", "Reveal"), "reason": ("事由", "Reason"),
    "promised": ("承诺时限", "Promised by"), "statutory": ("法定时限", "Statutory limit"),
    "timeline": ("时间线", "Timeline"), "warnings": ("督办记录", "Warnings"),
    "event_type": ("事件类型", "Event type"), "attempts": ("尝试次数", "Attempts"),
    "min_attempts": ("最少尝试", "Min attempts"), "since": ("自", "Since"),
    "replay": ("重新投递", "Replay"), "dry_run": ("预演计数", "Count first (dry run)"),
    "confirm_replay": ("确认重新投递", "Replay them"), "filter": ("筛选", "Filter"),
    "success_pct": ("成功率", "Success"), "last_error": ("最近错误", "Last error"),
    "disable": ("停用", "Disable"), "enable": ("启用", "Enable"),
    "enabled": ("启用中", "Enabled"), "disabled": ("已停用", "Disabled"),
    "acknowledge": ("确认", "Acknowledge"), "resolve": ("已解决", "Resolve"),
    "month": ("月份", "Month"), "download_xlsx": ("下载 XLSX", "Download XLSX"),
    "download_csv": ("下载 CSV", "Download CSV"), "overdue_list": ("超期清单", "Overdue list"),
    "forbidden": ("权限不足", "Not allowed"), "actor": ("操作人", "Who"),
    "action": ("操作", "Action"), "target": ("对象", "Target"), "at": ("时间", "When"),
    "role": ("角色", "Role"), "none": ("无", "None"), "json": ("下载 JSON", "Download JSON"),
    "workers": ("工作进程心跳", "Worker heartbeats"), "backlog": ("待投递积压", "Backlog"),
    "keys": ("密钥年龄", "Key ages"), "calendar": ("已知节假日年份", "Calendar years known"),
    "contracts": ("合同", "Contracts"), "database": ("数据库", "Database"),
}


def word(key: str, lang: str) -> str:
    pair = WORDS.get(key)
    if pair is None:
        return key
    return pair[0] if lang == "zh" else pair[1]
