"""What a console user reads when something goes wrong: Chinese first, English beside, an action.

One table for the whole console: every stable error code (:class:`schemas.errors.ErrorCode`)
and every reason a case material was not obtained maps to a :class:`Message` — what
happened and what to do, in Chinese with English beside it, and the page that does it
(未获授权：请向<owner>申请 → [申请授权]). Pages never copy these texts; the API keeps its
codes and English details.

:func:`humanise` makes a technical detail readable: API paths go, field names become
their catalog titles (``male_party_id_number`` → 男方公民身份号码). :func:`field_title`
and :func:`display_value` show a field by its title and a coded value by its name
(性别 1 → 男, 民族 01 → 汉族).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from schemas.catalog import load_resources
from schemas.certificates import load_certificate_types
from schemas.codes import decode
from schemas.errors import ErrorCode
from schemas.matters import load_matters

__all__ = [
    "ACTIONS",
    "Action",
    "FieldError",
    "Message",
    "case_reason",
    "display_value",
    "field_title",
    "humanise",
    "message_for",
    "resource_name",
    "strip_note",
]


@dataclass(frozen=True)
class Action:
    """A link to the page that fixes the problem."""

    zh: str
    en: str
    href: str


@dataclass(frozen=True)
class Message:
    """A problem as a person reads it."""

    zh: str
    en: str
    action: Action | None = None


@dataclass(frozen=True)
class FieldError:
    """A problem shown beside one form field: the message and the detail (check digits…)."""

    message: Message
    detail: str = ""

    @classmethod
    def of(cls, code: str, detail: str = "") -> FieldError:
        return cls(message_for(code), humanise(detail))


ACTIONS: dict[str, Action] = {
    "grants": Action("申请授权", "Request a grant", "/console/grants"),
    "signin": Action("重新登录", "Sign in again", "/console/login"),
    "home": Action("返回首页", "Back to the console home", "/console/"),
    "verify": Action("重新核验", "Verify again", "/console/verify"),
    "cases": Action("重新办理", "Start the case again", "/console/cases"),
    "catalog": Action("查看资源目录", "Open the catalog", "/console/catalog"),
    "audit": Action("返回审计检索", "Back to the audit search", "/console/audit"),
    "reload": Action("刷新页面后重试", "Reload the page and try again", ""),
}

_A = ACTIONS
E = ErrorCode
_MESSAGES: dict[str, Message] = {
    # input
    E.INVALID_IDENTIFIER: Message(
        "证件号码有误：请核对号码位数和最后一位校验码。",
        "The ID number or USCC is wrong: check its length and its check character.",
    ),
    E.UNKNOWN_PROVINCE: Message(
        "证件号码的前两位不是有效的省级行政区划代码，请核对。",
        "The first two digits are not a province code: check the number.",
    ),
    E.REGION_NOT_IN_USE: Message(
        "证件号码中的行政区划代码在出生当年未启用，请核对。",
        "The region code was not in use in the year of birth: check the number.",
    ),
    E.INVALID_RECORD: Message(
        "记录不符合资源目录的格式，请按目录要求修改后重新报送。",
        "The record does not match the catalog: correct it and publish again.",
        _A["catalog"],
    ),
    E.INVALID_REQUEST: Message(
        "填写的内容有误，请按提示修改。", "Some input is invalid: correct it as shown."
    ),
    E.MALFORMED_JSON: Message(
        "文件不是合法的 JSON，请检查后重新上传。", "The file is not valid JSON: check it and retry."
    ),
    E.UNKNOWN_RESOURCE: Message(
        "资源目录中没有该资源。", "The catalog has no such resource.", _A["catalog"]
    ),
    E.UNKNOWN_CERTIFICATE_TYPE: Message(
        "没有该类电子证照。", "There is no such certificate type.", _A["catalog"]
    ),
    E.UNKNOWN_MATTER: Message(
        "没有该事项，请重新选择。", "No such matter: choose another.", _A["cases"]
    ),
    E.INVALID_TEXT: Message(
        "文字中含有无法识别的字符，请重新输入。", "The text holds characters that cannot be read."
    ),
    E.TOO_LONG: Message("输入内容过长，请缩短后重试。", "The input is too long: shorten it."),
    # signatures and keys
    E.NON_CANONICAL_JSON: Message(
        "文件格式不规范（非规范化 JSON），可能经过改动。",
        "The document is not canonical JSON: it may have been altered.",
    ),
    E.INVALID_PROOF: Message(
        "签章无效：内容可能被篡改，不得作为办事依据。",
        "The seal is invalid: the content may have been altered.",
    ),
    E.INVALID_SEAL: Message(
        "批次签章无效：数据可能被篡改。", "The batch seal is invalid: the data may be altered."
    ),
    E.SEAL_IN_FUTURE: Message(
        "签章时间晚于当前时间，请核对签章方的时钟。", "The seal is dated in the future."
    ),
    E.INVALID_KEY: Message("密钥无效，请联系运维人员。", "The key is invalid: ask the operator."),
    E.UNTRUSTED_ISSUER: Message(
        "签发机构不可信或无权签发此类证照。", "The issuer is not trusted for this document."
    ),
    E.INVALID_MERKLE_PROOF: Message(
        "审计证明未通过，请联系审计人员。", "An audit proof failed: tell the auditors."
    ),
    E.INVALID_CHECKPOINT: Message(
        "审计检查点签名无效，请联系审计人员。", "The checkpoint signature is invalid."
    ),
    E.KEY_PURPOSE: Message(
        "该密钥不能用于此用途，请联系运维人员。", "The key may not be used for this purpose."
    ),
    E.KEY_REVOKED: Message("该密钥已被吊销。", "The key has been revoked."),
    # who may do what
    E.UNAUTHENTICATED: Message("请先登录。", "Sign in first.", _A["signin"]),
    E.INVALID_TOKEN: Message(
        "登录已失效，请重新登录。", "Your sign-in has expired: sign in again.", _A["signin"]
    ),
    E.REPLAY: Message("重复的请求已被拒绝，请重试。", "A repeated request was refused: retry."),
    E.FORBIDDEN: Message(
        "本次操作未通过校验（表单已过期），请刷新页面后重试。",
        "This form is no longer valid: reload the page and try again.",
        _A["reload"],
    ),
    E.ROLE_FORBIDDEN: Message(
        "当前账号没有此功能的权限，请联系本部门管理员分配角色。",
        "Your account does not hold the role this page needs: ask your administrator.",
        _A["home"],
    ),
    E.NOT_OWNER: Message(
        "只有该资源的责任部门可以进行此操作。", "Only the resource's owner may do this."
    ),
    E.GRANT_MISSING: Message(
        "未获授权：请向资源的责任部门申请共享授权。",
        "No approved grant: request one from the owning department.",
        _A["grants"],
    ),
    E.NOT_SHARED: Message(
        "该资源不予共享，只有责任部门可以查看。",
        "This resource is not shared: only its owner reads it.",
        _A["catalog"],
    ),
    E.PURPOSE_REQUIRED: Message("请填写用途（办理的事项）。", "Name the purpose (the matter)."),
    E.NOT_FOUND: Message("未找到，请核对编号。", "Not found: check the number.", _A["home"]),
    E.UNKNOWN_DEPARTMENT: Message("没有该部门。", "No such department."),
    E.DEPARTMENT_INACTIVE: Message(
        "该部门已暂停或注销，请联系运维人员。", "The department is suspended or retired."
    ),
    E.EXCHANGE_UNREACHABLE: Message(
        "无法连接共享交换平台，请稍后重试。", "The exchange cannot be reached: retry later."
    ),
    E.INVALID_DEPARTMENT: Message(
        "部门代码或名称有误。", "The department code or name is invalid."
    ),
    E.INVALID_REASON: Message("请填写理由。", "Give a reason."),
    E.CONFLICT: Message(
        "状态已变化，请刷新页面后重试。", "The state changed: reload and retry.", _A["reload"]
    ),
    E.TOO_MANY_WITNESSES: Message("见证方签名过多。", "Too many witness cosignatures."),
    E.PAYLOAD_TOO_LARGE: Message(
        "文件过大，请上传较小的文件。", "The file is too large: upload a smaller one."
    ),
    E.REQUEST_HEAD_TOO_LARGE: Message(
        "请求头过长，请清除本站 Cookie 后重试。",
        "The request's headers are too long: clear this site's cookies and retry.",
    ),
    E.MALFORMED_REQUEST: Message(
        "请求格式有误，请刷新页面后重试。", "The request is not valid HTTP: reload and retry."
    ),
    E.STORE_LOCKED: Message("平台数据库被占用，请联系运维人员。", "The store is locked."),
    E.STORE_NOT_INITIALISED: Message("平台尚未初始化。", "The exchange is not initialised."),
    E.STORE_UNAVAILABLE: Message("平台数据库暂不可用，请稍后重试。", "The store is unavailable."),
    E.AUDIT_UNAVAILABLE: Message(
        "审计日志暂不可用，为保证可追溯已暂停服务，请稍后重试。",
        "The audit log is unavailable: nothing is answered until it is back.",
    ),
    E.AUDIT_DISK_FULL: Message(
        "审计日志磁盘空间不足，请联系运维人员。", "The audit log's disk is full."
    ),
    E.BUS_UNAVAILABLE: Message("消息总线暂不可用，请稍后重试。", "The bus is unavailable."),
    E.BUS_TOPIC_MISMATCH: Message("批次与主题不符。", "The batch is on another resource's topic."),
    E.BUS_INGEST_FAILED: Message("数据接收失败，已隔离。", "The message failed to ingest."),
    E.CATCHING_UP: Message(
        "本节点正在同步数据，请稍后重试。", "This node is catching up: retry shortly."
    ),
    E.NODE_BEHIND: Message(
        "本节点尚未同步到您刚才的操作，请稍后重试或换一个节点。",
        "This node has not yet applied your last change: retry shortly or ask another node.",
    ),
    E.NOT_A_CLUSTER: Message(
        "本交换平台未以集群节点方式运行。", "This exchange is not running as a cluster node."
    ),
    E.NOT_IN_CLUSTER: Message(
        "集群节点暂不支持此操作（如批量签发），请在单节点上执行。",
        "A cluster node does not take this command yet (e.g. bulk issuance).",
    ),
    E.NODE_DRAINING: Message(
        "本节点正在退出集群，请改用其他节点。",
        "This node is draining out of the cluster: use another node.",
    ),
    E.NODE_ID_TAKEN: Message(
        "该节点编号已被另一个在线节点使用。", "A live node elsewhere already has this node id."
    ),
    E.NODE_LIVE: Message(
        "该节点仍在运行，请先让其退出（drain）。", "That node is still live: drain it first."
    ),
    E.NODE_UNKNOWN: Message("集群中没有该节点。", "No node of that id in the cluster."),
    E.CONTROL_UNAVAILABLE: Message(
        "集群控制通道暂不可用，操作未执行，请稍后重试。",
        "The cluster's control channel is unavailable; nothing was changed: retry shortly.",
    ),
    E.BUS_UNSAFE: Message("消息总线配置不安全。", "The bus is configured unsafely."),
    E.METHOD_NOT_ALLOWED: Message(
        "不支持该操作方式，请使用页面上的表单。", "Use the form on the page.", _A["home"]
    ),
    E.RATE_LIMITED: Message("操作过于频繁，请稍后再试。", "Too many requests: wait a moment."),
    E.CERTIFICATE_REFUSED: Message(
        "证照未通过核验，不得作为办事依据。", "The certificate failed verification."
    ),
    E.INTERNAL: Message(
        "平台内部错误，已记录，请联系运维人员。", "An internal error was logged: tell the operator."
    ),
    E.INVALID_PURPOSE: Message(
        "用途须为事项列表中的事项。", "The purpose must be a matter from the list."
    ),
    E.INVALID_CASE_NUMBER: Message(
        "办件编号只能包含字母、数字和 . _ : / -，请修改。",
        "A case number has letters, digits and . _ : / - only.",
    ),
    E.INVALID_EXPIRY: Message("授权期限有误。", "The expiry is invalid."),
    E.GRANT_NOT_APPLICABLE: Message(
        "该资源无需申请授权。", "This resource needs no grant.", _A["catalog"]
    ),
    E.UNKNOWN_FIELD: Message("资源目录中没有该字段。", "The catalog has no such field."),
    E.PURPOSE_NOT_A_MATTER: Message(
        "用途须从事项清单中选择：办件按事项读取数据，自由填写的用途不会被任何办件使用。",
        "Choose the purpose from the matters: cases read under their matter's code.",
        _A["catalog"],
    ),
    E.GRANT_NOT_APPROVED: Message(
        "只有已批准的授权可以撤销或收窄。", "Only an approved grant can be revoked or narrowed."
    ),
    E.GRANT_NOT_NARROWER: Message(
        "收窄后的授权须比原授权更窄（更少字段、更少用途或更早到期）。",
        "A narrowed grant must be narrower: fewer fields or purposes, or an earlier expiry.",
    ),
    E.UNSUPPORTED_GRANT_TYPE: Message("不支持的登录方式。", "Unsupported sign-in method."),
    E.INVALID_COSIGNATURE: Message("见证签名无效。", "The cosignature is invalid."),
    E.NO_SUCH_TILE: Message(
        "没有这个日志瓦片：路径格式不对，或超出了日志当前的大小。",
        "No such log tile: the path is malformed or beyond the log's current size.",
    ),
    E.INVALID_TREE_SIZE: Message("日志大小有误。", "The tree size is invalid."),
    E.INVALID_ENTRY_INDEX: Message("日志序号有误。", "The entry index is invalid."),
    E.AUDIT_INCOMPLETE: Message("审计日志不完整。", "The audit log is incomplete."),
    E.ARCHIVE_TOO_RECENT: Message("归档范围过近。", "The archive range is too recent."),
    E.INVALID_VALIDITY: Message("有效期有误。", "The validity period is invalid."),
    E.INVALID_OPTION: Message("选项有误。", "The option is invalid."),
    E.INVALID_BACKUP: Message("备份文件无效。", "The backup is invalid."),
    E.UNREADABLE_FILE: Message("文件无法读取，请重新选择。", "The file cannot be read."),
    E.UNWRITABLE_FILE: Message("文件无法写入。", "The file cannot be written."),
    E.INVALID_FILE: Message(
        "无法识别该文件：请上传电子证照 JSON 文件或二维码图片。",
        "The file is not recognised: upload a certificate (JSON) or a QR image.",
    ),
    E.INVALID_DATE: Message(
        "日期时间格式有误，例如 2026-01-31 09:00。", "Give a date and time, e.g. 2026-01-31 09:00."
    ),
    E.INVALID_APPLICANT: Message(
        "请至少填写一位申请人的身份和证件号码。", "Name at least one applicant: role and ID number."
    ),
    E.CREDENTIAL_REQUIRED: Message(
        "请粘贴电子证照、材料包或二维码内容，或选择文件、拍摄二维码。",
        "Paste a certificate, a bundle or QR text, or choose a file or photo of a QR code.",
    ),
    E.GRANT_ALREADY_DECIDED: Message(
        "该授权申请已答复。", "This grant request was answered already.", _A["grants"]
    ),
    E.CASE_EXISTS: Message(
        "该办件编号已使用，请换一个编号或留空自动生成。",
        "This case number is taken: choose another or leave it empty.",
    ),
    E.VERIFIER_BUSY: Message("核验服务繁忙，请稍后重试。", "The verifier is busy: retry shortly."),
    E.INVALID_ACT: Message(
        "经办人身份无效，请重新登录。", "The person acting is invalid.", _A["signin"]
    ),
    E.ACT_REQUIRED: Message(
        "本部门要求以经办人身份登录后查询。",
        "Your department requires staff sign-in for reads.",
        _A["signin"],
    ),
    E.SIGNIN_FAILED: Message(
        "登录失败：请核对工号、密码和动态口令。",
        "Sign-in failed: check your id, password and code.",
    ),
    E.ENROLMENT_INVALID: Message(
        "注册链接无效或已过期，请联系管理员。", "The enrolment link is invalid or expired."
    ),
    E.SESSION_LIMIT: Message(
        "登录会话过多，请先退出其他会话。", "Too many sessions: sign out elsewhere first."
    ),
    E.INVALID_STAFF_ID: Message("工号格式有误。", "The staff id is invalid."),
    E.INVALID_STAFF_NAME: Message("姓名有误。", "The name is invalid."),
    E.INVALID_STAFF_ROLE: Message("角色有误。", "The role is invalid."),
    E.WEAK_PASSWORD: Message("密码强度不足，请换一个更长的密码。", "The password is too weak."),
    E.UNENCODABLE_AUDIT_ENTRY: Message("审计条目无法编码。", "The audit entry cannot be encoded."),
    E.INVALID_DEFINITION: Message("资源定义有误。", "The resource definition is invalid."),
    E.INCOMPATIBLE_SCHEMA: Message(
        "目录变更与已有记录不兼容。", "The change breaks stored records."
    ),
    E.INVALID_ISSUER: Message("签发机构有误。", "The issuer is invalid."),
    E.UNKNOWN_OPERATION: Message("没有该运维操作。", "No such operation."),
    E.LOCAL_ONLY: Message("该操作只能在本机执行。", "This operation runs on the host only."),
    E.ADMIN_UNREACHABLE: Message("无法连接管理通道。", "The admin channel is unreachable."),
    E.CITIZEN_SIGN_IN_OFF: Message(
        "本平台未开通个人登录。", "Citizen sign-in is not configured here."
    ),
    E.CITIZEN_SIGN_IN_FAILED: Message(
        "个人登录失败，请重试。", "Citizen sign-in failed: try again."
    ),
    E.NOT_YOUR_DATA: Message("只能查看本人的数据使用记录。", "You may see your own report only."),
    E.SUBJECT_IN_URL: Message(
        "证件号码不能出现在网址中，请使用页面上的检索表单。",
        "An ID number never goes in a URL: use the search form.",
        _A["audit"],
    ),
    E.CONNECTOR_CONFIG: Message("前置机配置有误。", "The connector configuration is invalid."),
    E.SOURCE_UNREADABLE: Message("数据源无法读取。", "The source cannot be read."),
    E.PUBLISH_FAILED: Message("数据报送失败。", "Publishing failed."),
}

# why a case material was not obtained (exchange.cases.resolver reason codes)
_CASE_REASONS: dict[str, Message] = {
    "not_held": Message(
        "未查到相关材料：请申请人提交纸质材料。",
        "Not found at any department: the applicant brings it.",
    ),
    "no_applicant": Message(
        "未填写该身份的申请人：请补充后重新办理。",
        "No applicant of this role was named: add one and resolve again.",
        _A["cases"],
    ),
    "certificate_refused": Message(
        "电子证照未通过核验（已注销或已改动），请申请人提交原件。",
        "The certificate failed verification: the applicant brings the original.",
    ),
    "needs_key": Message(
        "须由申请人提供登记编号后查询，或提交纸质材料。",
        "Found by its record number only: the applicant gives it or brings the paper.",
    ),
    "no_grant": Message(
        "未获授权：请向责任部门申请共享授权。",
        "No approved grant: request one from the owning department.",
        _A["grants"],
    ),
    "check_failed": Message(
        "核验结果为否，请申请人提交相关证明。",
        "The check answered no: the applicant brings proof.",
    ),
}
_CASE_REASONS["not_obtained"] = _CASE_REASONS["not_held"]

_FALLBACK = Message("操作未完成，请按页面提示重试。", "The action did not complete: try again.")


def message_for(code: str) -> Message:
    """The message of a stable error code (a generic one for a code the table lacks)."""
    return _MESSAGES.get(code, _FALLBACK)


def case_reason(
    reason_code: str | None, owner_name: str | None = None, resource: str | None = None
) -> Message:
    """Why a material was not obtained; a missing grant names the department to ask and
    links to the resource's request form."""
    found = _CASE_REASONS.get(reason_code or "", _CASE_REASONS["not_held"])
    if reason_code == "no_grant" and owner_name:
        action = found.action
        if resource and action is not None:
            action = replace(action, href=f"/console/catalog/{resource}#request-title")
        return Message(
            f"未获授权：请向{owner_name}申请共享授权。",
            "No approved grant: request one from the owning department.",
            action,
        )
    return found


def strip_note(title: str) -> str:
    """``性别 (GB/T 2261.1)`` → ``性别``: the standard's note stays in the catalog."""
    return re.sub(r"\s*[(（][^)）]*[)）]\s*$", "", title) or title


@cache
def _titles() -> dict[str, str]:
    titles: dict[str, str] = {}
    schemas = [r.json_schema for r in load_resources().values()]
    schemas += [t.json_schema for t in load_certificate_types().values()]
    for schema in schemas:
        for name, spec in schema.get("properties", {}).items():
            if isinstance(spec, dict) and isinstance(spec.get("title"), str):
                titles.setdefault(name, strip_note(spec["title"]))
    titles.update({"holder_name": "持证主体名称", "holder_code": "持证主体代码"})
    return titles


@cache
def _resource_names() -> dict[str, str]:
    names = {r.code: r.name for r in load_resources().values()}
    names |= {t.code: t.name for t in load_certificate_types().values()}
    names |= {m.code: m.name for m in load_matters().values()}
    return names


def resource_name(code: str) -> str:
    """A resource, certificate type or matter by its Chinese name (its code when unknown)."""
    return _resource_names().get(code, code)


def field_title(name: str) -> str:
    """A field as people name it: its catalog title (``sex`` → 性别)."""
    return _titles().get(name, name)


def display_value(name: str, value: Any) -> str | None:
    """A coded value by its name (性别 1 → 男, 民族 01 → 汉族); None when not coded."""
    return decode(name, value)


_API_PATH = re.compile(r"(?:(?:GET|POST|PUT|PATCH|DELETE)\s+)?/v1/[^\s;,)]*")
_WITH_API = re.compile(r";?\s*(?:request|ask for|see|use) (?:one|it)? ?with\s*(?=$|[;.])")
_SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
_RESOURCE = re.compile(r"\b[a-z]+\.[a-z0-9_]+\b")
_CODE = re.compile(r"\b(?:exchange|schema|signing|connector)\.[a-z_]+\b:?\s*")


def humanise(text: str | None) -> str:
    """A technical detail made readable: no API path, fields by their catalog titles."""
    if not text:
        return ""
    out = _CODE.sub("", _API_PATH.sub("", text))
    out = _WITH_API.sub("", out)
    names = _resource_names()
    out = _RESOURCE.sub(lambda m: names.get(m.group(0), m.group(0)), out)
    titles = _titles()
    out = _SNAKE.sub(lambda m: titles.get(m.group(0), m.group(0)), out)
    return re.sub(r"\s{2,}", " ", out).strip(" ;")
