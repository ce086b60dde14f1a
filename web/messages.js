// What the card page (app.js) and the account page (account.js) tell the customer in the same words: the
// card fields' messages, the error codes whose message fits either page, the codes of API Gateway's own
// answers, and the terms' and the network's failures. Worded once, as reviewed for the card page, so the pages
// cannot drift apart. No DOM and no state: a page lays the codes whose message says what it does
// (CARD_REJECTED, SCHEDULE_NOT_FOUND, ...) over CODE_MESSAGES.

// By the server's reason for each field of a request (functions/billing/cards.py, plans: subscriptions.py)
const FIELD_MESSAGES = {
  card_number: {
    required: "카드 번호를 입력해 주세요.",
    digits_only: "카드 번호는 숫자만 입력해 주세요.",
    length_14_to_16: "카드 번호 14~16자리를 모두 입력해 주세요.",
    checksum: "카드 번호가 올바르지 않습니다. 번호를 다시 확인해 주세요.",
  },
  expiry: {
    required: "유효기간을 입력해 주세요.",
    format_yyyy_mm: "유효기간을 카드에 적힌 월/연도(MM/YY) 순서로 입력해 주세요.",
    month_1_to_12: "유효기간의 월은 01부터 12 사이로 입력해 주세요.",
    expired: "유효기간이 지난 카드입니다.",
    too_far_ahead: "유효기간을 다시 확인해 주세요.",
  },
  birth: {
    required: "생년월일 또는 사업자등록번호를 입력해 주세요.",
    digits_only: "숫자만 입력해 주세요.",
    length_6_or_10: "생년월일 6자리 또는 사업자등록번호 10자리를 입력해 주세요.",
    invalid_date: "생년월일 6자리를 다시 확인해 주세요. (예: 880101)",
    business_number_checksum: "사업자등록번호를 다시 확인해 주세요.",
  },
  pwd_2digit: {
    required: "카드 비밀번호 앞 두 자리를 입력해 주세요.",
    two_digits: "카드 비밀번호 앞 두 자리를 숫자로 입력해 주세요.",
  },
  plan_id: {
    required: "요금제를 선택해 주세요.",
    unknown_plan: "선택한 요금제를 사용할 수 없습니다. 다른 요금제를 선택해 주세요.",
    invalid_characters: "선택한 요금제를 사용할 수 없습니다. 다른 요금제를 선택해 주세요.",
  },
};
const FIELD_FALLBACK = "입력 내용을 다시 확인해 주세요.";

export function fieldMessage(name, reason) {
  return (FIELD_MESSAGES[name] && FIELD_MESSAGES[name][reason]) || FIELD_FALLBACK;
}

export const CODE_MESSAGES = {
  INVALID_REQUEST: "요청을 처리할 수 없습니다. 페이지를 새로 고친 뒤 다시 시도해 주세요.",
  TOO_MANY_ATTEMPTS: "시도 횟수가 너무 많습니다. 잠시 후 다시 시도해 주세요.",
  CARD_DETAILS_EXHAUSTED:
    "카드 정보가 두 번 연속 일치하지 않아, 카드가 잠기지 않도록 이 카드는 여기서 더 이상 등록할 수 없습니다. 다른 카드를 사용해 주세요.",
  REQUEST_IN_PROGRESS: "이전 요청을 아직 처리하고 있습니다. 잠시 후 같은 내용으로 다시 시도해 주세요.",
  IDEMPOTENCY_KEY_REUSED: "요청을 처리할 수 없습니다. 페이지를 새로 고친 뒤 다시 시도해 주세요.",
  PAYMENT_PROVIDER_UNAVAILABLE: "결제대행사에 연결할 수 없습니다. 잠시 후 다시 시도해 주세요.",
  SUBSCRIPTION_PAST_DUE:
    "결제가 실패해 재시도 중인 구독입니다. 결제 카드를 바꾸면 밀린 결제가 새 카드로 곧 진행됩니다.",
  PRICE_CHANGE_NOT_OPEN: "지금은 가격 변경에 동의할 수 없습니다. 안내받은 동의 기간을 확인해 주세요.",
  UPGRADE_IN_PROGRESS: "잠시 후 다시 시도해 주세요.",
  SUBSCRIPTION_NOT_RENEWING: "결제 카드를 바꿀 수 있는 구독이 없습니다. 구독 상태를 확인해 주세요.",
  SERVICE_UNAVAILABLE: "서비스가 잠시 응답하지 않습니다. 잠시 후 다시 시도해 주세요.",
  UNAUTHORIZED: "로그인이 필요합니다. 다시 로그인한 뒤 시도해 주세요.",
  NOT_FOUND: "요청한 기능을 찾을 수 없습니다.",
  PAYLOAD_TOO_LARGE: "요청이 너무 큽니다.",
  UNSUPPORTED_MEDIA_TYPE: "요청을 처리할 수 없습니다. 페이지를 새로 고친 뒤 다시 시도해 주세요.",
  INTERNAL_ERROR: "일시적인 오류가 발생했습니다. 잠시 후 다시 시도해 주세요.",
  EDGE_REQUIRED: "이 주소로는 요청할 수 없습니다. 사이트 주소로 다시 접속해 주세요.",
};
// API Gateway's own answers ({"message": "Unauthorized"}, ...) carry no code.
export const STATUS_CODES = {
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  413: "PAYLOAD_TOO_LARGE",
  429: "TOO_MANY_ATTEMPTS",
  500: "INTERNAL_ERROR",
  502: "INTERNAL_ERROR",
  503: "SERVICE_UNAVAILABLE",
  504: "SERVICE_UNAVAILABLE",
};

export const NETWORK_MESSAGE = "서버에 연결할 수 없습니다.";
// AWS WAF stopped the request at the edge (its challenge: the page's security token is missing or expired).
export const WAF_CHECK = "보안 확인이 필요합니다. 페이지를 새로 고친 뒤 다시 시도해 주세요. 요청은 처리되지 않았습니다.";
export const TERMS_UNAVAILABLE = "약관을 불러오지 못했습니다. 잠시 후 새로 고침해 주세요.";
export const TERMS_CHANGED = "약관이 변경되었습니다. 변경된 내용을 확인하고 다시 동의해 주세요.";
export const CONSENT_KINDS = { required: "(필수)", optional: "(선택)", notice: "안내" };
export const INVALID_INPUT = "입력 내용을 확인해 주세요.";

export function requestIdText(requestId) {
  return `문의하실 때 요청 번호를 알려 주세요: ${requestId}`;
}

export function missingConsentsText(titles) {
  return `다음 필수 항목에 동의해 주세요: ${titles.join(", ")}`;
}

// A decline whose details do not match the card (number, expiry, PIN digits, birth date): what to check
// while the card may be tried again, and that a second mismatch in a row stops it here (before the card
// company could lock it after a third wrong PIN). Null for any other decline.
export function detailsMismatch(declined) {
  if (declined.decline !== "details_mismatch") return null;
  return declined.tries_left > 0
    ? "카드사에서 카드 정보가 일치하지 않는다고 알려 왔습니다. 카드 번호, 유효기간, 비밀번호 앞 두 자리, 생년월일(법인카드는 사업자등록번호)을 확인해 주세요. 한 번 더 일치하지 않으면 카드가 잠기지 않도록 이 카드는 여기서 더 이상 등록할 수 없습니다."
    : "카드사에서 카드 정보가 두 번 연속 일치하지 않는다고 알려 왔습니다. 카드가 잠기지 않도록 이 카드는 여기서 더 이상 등록할 수 없습니다. 다른 카드를 사용해 주세요.";
}
