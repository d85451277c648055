"""Interface text: Chinese, with English for browsers that prefer it (Accept-Language)."""
from __future__ import annotations

TEXT: dict[str, tuple[str, str]] = {
    "app": ("东莞市民卡 · 客服工作台", "Dongguan Citizen Card · Service console"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "otp": ("动态验证码（6位）", "Authenticator code (6 digits)"),
    "login_failed": ("用户名、密码或验证码错误", "Wrong username, password or code"),
    "login_throttled": ("失败次数过多，请稍后再试", "Too many failed attempts; try again later"),
    "session_expired": ("长时间未操作，请重新登录", "Your session timed out; log in again"),
    "queue": ("工单队列", "Queue"),
    "breaches": ("超时工单", "Deadline breaches"),
    "audit": ("审计记录", "Audit trail"),
    "search": ("按工单号查找", "Find by ticket number"),
    "go": ("查找", "Find"),
    "not_found": ("没有这个工单", "No such ticket"),
    "view_open": ("未办结", "Open"), "view_new": ("待领取", "Unclaimed"), "view_mine": ("我的", "Mine"),
    "view_closed": ("已办结", "Closed"),
    "ticket": ("工单号", "Ticket"), "category": ("类别", "Category"), "status": ("状态", "Status"),
    "created": ("提交时间", "Filed"), "first_due": ("首次回复期限", "First reply due"),
    "resolution_due": ("办结期限", "Resolve by"), "assignee": ("处理人", "Assignee"),
    "department": ("部门", "Department"), "empty": ("没有工单", "No tickets"),
    "status_new": ("待领取", "New"), "status_in_progress": ("处理中", "In progress"),
    "status_transferred": ("已转办", "Transferred"), "status_answered": ("部门已答复", "Answered"),
    "status_closed": ("已办结", "Closed"),
    "overdue": ("已超时", "Overdue"), "met": ("按时 ✓", "met ✓"), "late_done": ("超时完成", "met late"),
    "description": ("投诉内容", "Complaint"), "summary": ("摘要", "Summary"), "verification": ("相关核验", "Verification"),
    "thread": ("沟通记录", "Messages"),
    "author_citizen": ("市民", "Citizen"), "author_agent": ("客服", "Agent"),
    "author_department": ("部门答复", "Department"), "author_system": ("系统", "System"),
    "reply": ("回复市民", "Reply to citizen"), "answer": ("部门答复", "Department answer"), "send": ("发送", "Send"),
    "claim": ("领取工单", "Claim"), "transfer": ("转办部门", "Transfer"), "note": ("说明", "Note"),
    "close": ("办结", "Close"), "close_note": ("办结说明（市民可见）", "Closing note (the citizen sees it)"),
    "reassign": ("改派", "Reassign"), "to_user": ("改派给（用户名）", "To (username)"),
    "citizen": ("市民信息", "Citizen"), "citizen_hint": ("查看将被记录（工单目的）", "Viewing is recorded (ticket purpose)"),
    "name": ("姓名", "Name"), "phone": ("手机号", "Phone"), "id_number": ("身份证号", "ID number"),
    "card_active": ("正常", "Active"),
    "insured": ("参保", "Insured"), "card_number": ("卡号", "Card number"), "card_status": ("卡状态", "Card status"),
    "devices": ("电子卡设备", "E-card devices"), "device_active": ("使用中", "Active"), "device_revoked": ("已停用", "Revoked"),
    "recent": ("最近核验", "Recent verifications"), "partner": ("合作方", "Partner"), "scene": ("场景", "Scene"),
    "result": ("结果", "Result"), "accepted": ("通过", "Accepted"), "refused": ("拒绝", "Refused"),
    "unmask": ("显示完整", "Show in full"), "reason": ("原因（必填，将被记录）", "Reason (required, recorded)"),
    "identify": ("核对来电人（手机号或身份证号）", "Check a caller (phone or ID number)"), "check": ("核对", "Check"),
    "matches": ("与本工单市民一致", "Matches this ticket's citizen"), "no_match": ("与本工单市民不一致", "Does not match"),
    "back": ("返回工单", "Back to ticket"), "yes": ("是", "yes"), "no": ("否", "no"),
    "verify_chain": ("校验审计链", "Verify the chain"), "chain_ok": ("审计链完整", "The chain is intact"),
    "chain_bad": ("审计链被篡改", "The chain was tampered with"), "pending": ("待封存", "Pending"),
    "at": ("时间", "Time"), "actor": ("操作者", "Actor"), "role": ("角色", "Role"), "action": ("操作", "Action"),
    "fields": ("字段", "Fields"), "purpose": ("目的", "Purpose"),
    "done": ("已完成", "Done"), "error": ("出错了", "Something went wrong"),
    "role_agent": ("客服", "Agent"), "role_supervisor": ("主管", "Supervisor"), "role_liaison": ("部门联络人", "Liaison"),
    "role_auditor": ("审计员", "Auditor"),
    # AppError codes the console can meet
    "forbidden": ("您的角色无权进行此操作", "Your role may not do this"),
    "complaint_not_found": ("没有这个工单", "No such ticket"),
    "complaint_closed": ("工单已办结，查询目的已结束", "The ticket is closed: its purpose has ended"),
    "already_claimed": ("该工单已由其他客服领取", "Another agent has this ticket"),
    "department_unknown": ("没有这个部门", "No such department"),
    "staff_unknown": ("没有这个在岗客服", "No active agent or supervisor with that username"),
    "reason_required": ("请填写原因（至少4个字）", "Give a reason (at least 4 characters)"),
    "field_unknown": ("该字段不能显示", "That field cannot be shown"),
    "text_required": ("请填写内容（最多2000字）", "Enter some text (at most 2000 characters)"),
    "not_transferred": ("该工单不在等待本部门答复", "The ticket is not waiting for your department"),
    "csrf_failed": ("页面已过期，请刷新后重试", "The page expired; reload it and try again"),
}


def has_text(key: str) -> bool:
    return key in TEXT


def text(key: str, language: str) -> str:
    """The text for ``key`` in ``language`` (``zh`` or ``en``); the key itself if unknown."""
    pair = TEXT.get(key)
    return key if pair is None else pair[language == "en"]
