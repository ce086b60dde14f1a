// The account page: a signed-in customer's subscription (plan, card, next charge, state) and what they can do
// with it: skip the next payment, change the card, cancel at the end of the paid period, ask for erasure, and
// consent to a higher price the merchant moved it to (전자상거래법 §13⑥: the date, the old and the new price and
// the card shown, and an explicit yes in the dialog; a lower price is only announced).
// Each change is confirmed first in a dialog that says what stops and when, and sent once per action with its
// own Idempotency-Key (the same key for an automatic retry). Which subscription is the server's answer for the
// signed-in customer (GET /subscriptions, by the token's subject): the customer never types or sees its
// customer_uid, and the page keeps none.
// Card values stay in the form's fields and, while a card change's outcome is unknown, in memory only.

import {
  accessToken,
  answeredByWaf,
  forgetToken,
  newIdempotencyKey,
  readJson,
  retryAfterSeconds,
  sleep,
} from "./api.js";
import { API_BASE_URL } from "./config.js";
import * as cards from "./cards.js";
import { cycle, kstDateTime, money, toDate } from "./format.js";
import * as messages from "./messages.js";

const KEYS_PATH = "/subscriptions"; // the signed-in customer's billing keys and their subscriptions
const PLANS_PATH = "/subscriptions/plans";
const TERMS_PATH = "/subscriptions/terms";
const MAX_RETRIES = 2; // automatic retries of one action (409 and 503 with Retry-After only)
const MAX_RETRY_WAIT_S = 10;
const REQUEST_TIMEOUT_MS = 35000; // API Gateway gives up on the function after 30 s
const GET_TIMEOUT_MS = 10000;

const STATES = {
  active: "이용 중",
  past_due: "결제 실패(재시도 중)",
  suspended: "이용 정지",
  cancelled: "해지됨",
};
// As the card page names them (app.js)
const SCHEDULE_STATUSES = {
  scheduled: "예약됨",
  paid: "결제됨",
  failed: "실패",
  cancelled: "결제 취소됨",
  revoked: "취소됨",
};
const KEPT_RECORDS = {
  consents: "약관 동의 기록",
  price_consents: "가격 변경 동의 기록",
  payments: "결제 기록",
};
// The codes whose message says what this page does, over the ones both pages share
const CODE_MESSAGES = {
  ...messages.CODE_MESSAGES,
  CARD_REJECTED:
    "카드사에서 카드를 승인하지 않았습니다. 결제 카드는 바뀌지 않았습니다. 카드 정보를 확인하거나 다른 카드를 사용해 주세요.",
  CUSTOMER_NOT_FOUND: "구독 정보를 찾을 수 없습니다. 페이지를 새로 고쳐 주세요.",
  SCHEDULE_NOT_FOUND: "건너뛸 수 있는 결제 예정 건이 없습니다.",
  PERIOD_ALREADY_CHARGED: "이미 결제가 진행되어 건너뛸 수 없습니다.",
  BILLING_KEY_REPLACED: "결제 카드가 이미 변경되었습니다. 구독 정보를 새로 불러왔으니 다시 확인해 주세요.",
  PAYMENT_PROVIDER_REJECTED: "지금은 처리할 수 없습니다. 고객센터에 문의해 주세요.",
  PAYMENT_PROVIDER_AUTH_FAILED: "결제 설정 문제로 지금은 처리할 수 없습니다. 고객센터에 문의해 주세요.",
  PAYMENT_CHANNEL_MISCONFIGURED: "결제 설정 문제로 지금은 처리할 수 없습니다. 고객센터에 문의해 주세요.",
  PRICE_CHANGE_NOT_OPEN:
    "지금은 가격 변경에 동의할 수 없습니다. 구독 정보를 새로 불러왔으니 안내된 내용과 동의 기간을 다시 확인해 주세요.",
};
// A consent echoes the terms shown; the server's differ (400 `not_the_offered_terms`): the view is fetched again
const PRICE_TERMS_CHANGED =
  "안내된 가격 변경 내용이 바뀌었습니다. 구독 정보를 새로 불러왔으니 바뀐 내용을 확인한 뒤 다시 동의해 주세요.";
const NETWORK_DETAIL = "인터넷 연결을 확인한 뒤 다시 시도해 주세요.";

const statusLine = document.getElementById("account-status");
const overview = document.getElementById("overview");
const summary = document.getElementById("summary");
const scheduleList = document.getElementById("schedule-list");
const actions = document.getElementById("actions");
const skipButton = document.getElementById("skip");
const changeButton = document.getElementById("change-card");
const cancelButton = document.getElementById("cancel");
const eraseButton = document.getElementById("erase");
const cardChange = document.getElementById("card-change");
const form = document.getElementById("card-form");
const cardSubmit = document.getElementById("card-submit");
const brandSlot = document.getElementById("card_number-brand");
const termsStatus = document.getElementById("terms-status");
const consentList = document.getElementById("consent-list");
const consentsError = document.getElementById("consents-error");
const erasure = document.getElementById("erasure");
const priceChange = document.getElementById("price-change");
const priceText = document.getElementById("price-change-text");
const consentButton = document.getElementById("price-consent");
const result = document.getElementById("result");
const dialog = document.getElementById("confirm");
const confirmTitle = document.getElementById("confirm-title");
const confirmText = document.getElementById("confirm-text");
const confirmYes = document.getElementById("confirm-yes");
const confirmNo = document.getElementById("confirm-no");
const inputs = {
  card_number: document.getElementById("card_number"),
  expiry: document.getElementById("expiry"),
  birth: document.getElementById("birth"),
  pwd_2digit: document.getElementById("pwd_2digit"),
};
const ACTION_BUTTONS = [skipButton, changeButton, cancelButton, eraseButton, cardSubmit, consentButton];

const state = {
  uid: null,
  view: null,
  plans: [],
  terms: null,
  consents: new Map(), // item id -> { item, checkbox (null for a notice) }
  busy: false,
  // A card change whose outcome is unknown: the same card again reuses its Idempotency-Key.
  unsettled: null,
};

// --- showing things ---

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function isObject(value) {
  return value !== null && typeof value === "object";
}

function showResult(kind, title, lines = [], extra = null) {
  const box = element("div", `result-box ${kind}`);
  const details = lines.filter(Boolean).map((line) => element("p", "result-detail", line));
  box.append(element("p", "result-title", title), ...details);
  if (extra) box.append(extra);
  result.replaceChildren(box);
  result.focus();
}

function showError(answer) {
  const body = answer.body || {};
  const code = body.code || messages.STATUS_CODES[answer.status];
  if (code === "UNAUTHORIZED") forgetToken();
  const requestId = body.request_id ? messages.requestIdText(body.request_id) : "";
  const mismatch = code === "CARD_REJECTED" ? messages.detailsMismatch(body) : null;
  const message = CODE_MESSAGES[code] || CODE_MESSAGES.INTERNAL_ERROR;
  showResult("error", mismatch ? `결제 카드는 바뀌지 않았습니다. ${mismatch}` : message, [requestId]);
}

function setBusy(busy) {
  state.busy = busy;
  for (const button of ACTION_BUTTONS) button.disabled = busy;
  if (!busy) cardSubmit.disabled = state.terms === null;
}

// --- talking to the API ---

/** One request as the caller. A change (with `key`) is retried on 409 and 503 with Retry-After, same key. */
async function send(method, path, { key = null, body = null } = {}) {
  const headers = { Accept: "application/json" };
  if (key) headers["Idempotency-Key"] = key;
  if (body !== null) headers["Content-Type"] = "application/json";
  const token = await accessToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  for (let attempt = 0; ; attempt += 1) {
    const response = await fetch(API_BASE_URL + path, {
      method,
      headers,
      body,
      credentials: "same-origin", // AWS WAF's token cookie, behind the edge; no cookie elsewhere
      cache: "no-store",
      signal: AbortSignal.timeout(key ? REQUEST_TIMEOUT_MS : GET_TIMEOUT_MS),
    });
    const wait = retryAfterSeconds(response);
    if (key && (response.status === 409 || response.status === 503) && wait !== null && attempt < MAX_RETRIES) {
      await sleep(Math.min(wait, MAX_RETRY_WAIT_S) * 1000 + Math.random() * 250);
      continue;
    }
    const answer = await readJson(response);
    return { status: response.status, body: answer, byWaf: answeredByWaf(response, answer) };
  }
}

async function getJson(path) {
  try {
    const answer = await send("GET", path);
    return answer.status === 200 ? answer.body : null;
  } catch {
    return null;
  }
}

function subscriptionPath(suffix = "") {
  return `/subscriptions/${encodeURIComponent(state.uid)}${suffix}`;
}

// --- the subscription ---

function nextCharge(view) {
  return view.schedules.find((s) => s.status === "scheduled") || null;
}

/** A payment the customer skipped that was still to come: the period after it is registered later. */
function skippedAhead(view) {
  const now = Date.now();
  return view.schedules.find((s) => s.status === "revoked" && toDate(s.schedule_at) > now) || null;
}

function stateLabel(view) {
  const label = STATES[view.subscription_status] || "구독 없음";
  if (!view.ends_at) return label;
  if (view.subscription_status === "cancelled") return `${label} (${kstDateTime(view.ends_at)}까지 이용)`;
  if (view.subscription_status === "suspended") return `${label} (${kstDateTime(view.ends_at)}에 해지 예정)`;
  return label;
}

function cardText(view) {
  return `${view.card.name || "카드"} **** ${view.card.last4 || "----"}`;
}

function payment(schedule) {
  return `${kstDateTime(schedule.schedule_at)} · ${money(schedule.amount, schedule.currency)}`;
}

function plan(view) {
  return state.plans.find((p) => p.id === view.plan_id) || null;
}

function renderView(view) {
  state.view = view;
  const known = plan(view);
  const next = nextCharge(view);
  const skipped = skippedAhead(view);
  let nextText = "예정된 결제가 없습니다.";
  if (next) nextText = payment(next);
  else if (skipped && view.subscription_status === "active") {
    nextText = `${kstDateTime(skipped.schedule_at)} 결제는 건너뛰었습니다. 그다음 결제는 다음 주기에 예약됩니다.`;
  }
  const rows = [
    ["요금제", known ? known.name : view.plan_id],
    ["요금", known ? `${money(known.amount, known.currency)} / ${cycle(known.interval)}` : ""],
    ["결제 카드", cardText(view)],
    ["상태", stateLabel(view)],
    ["다음 결제", view.subscription_status === "cancelled" ? "없음" : nextText],
  ];
  summary.replaceChildren(
    ...rows
      .filter(([, detail]) => detail)
      .map(([term, detail]) => {
        const pair = element("div");
        pair.append(element("dt", "", term), element("dd", "", detail));
        return pair;
      }),
  );
  scheduleList.replaceChildren(
    ...view.schedules.map((s) => {
      const item = element("li", `schedule ${s.status}`);
      item.append(
        element("span", "schedule-when", kstDateTime(s.schedule_at)),
        element("span", "schedule-amount", money(s.amount, s.currency)),
        element("span", "schedule-status", SCHEDULE_STATUSES[s.status] || s.status),
      );
      return item;
    }),
  );
  if (view.schedules.length === 0) {
    scheduleList.append(element("li", "schedule", "표시할 결제 일정이 없습니다."));
  }
  const status = view.subscription_status;
  skipButton.hidden = !(status === "active" && next);
  changeButton.hidden = !(status === "active" || status === "past_due");
  cancelButton.hidden = !(status === "active" || status === "past_due" || status === "suspended");
  actions.hidden = skipButton.hidden && changeButton.hidden && cancelButton.hidden;
  if (changeButton.hidden) closeCardChange();
  renderPriceChange(view);
  statusLine.replaceChildren();
  statusLine.hidden = true;
  overview.hidden = false;
  erasure.hidden = false;
}

function hideSubscription() {
  state.view = null;
  overview.hidden = true;
  priceChange.hidden = true;
  actions.hidden = true;
  erasure.hidden = true;
  closeCardChange();
}

function showEmpty() {
  hideSubscription();
  const link = element("a", "", "정기결제 카드 등록 페이지");
  link.href = "./";
  statusLine.replaceChildren("표시할 구독이 없습니다. 구독하려면 ", link, "에서 카드를 등록해 주세요.");
  statusLine.hidden = false;
}

async function loadView() {
  let answer;
  try {
    const listing = await send("GET", KEYS_PATH);
    state.uid = listing.status === 200 ? subscribedKey(listing.body) : undefined;
    if (state.uid === null) {
      showEmpty();
      return;
    }
    answer = state.uid ? await send("GET", subscriptionPath()) : null;
  } catch {
    answer = null;
  }
  if (answer && answer.status === 200 && isView(answer.body) && answer.body.plan_id) {
    renderView(answer.body);
  } else if (answer && answer.status === 200) {
    showEmpty(); // a card without a plan: nothing to manage here
  } else if (answer && answer.status === 404) {
    showEmpty();
  } else {
    statusLine.textContent = "구독 정보를 불러오지 못했습니다. 잠시 후 새로 고침해 주세요.";
    statusLine.hidden = false;
  }
}

/** The customer_uid of the subscription to show: the newest still running, else the newest that ended;
 * null when the customer has none, undefined for an answer that is not a listing. */
function subscribedKey(listing) {
  if (!isObject(listing) || !Array.isArray(listing.billing_keys)) return undefined;
  const subscribed = listing.billing_keys.filter((key) => isObject(key) && key.plan_id);
  const running = subscribed.find((key) => key.subscription_status !== "cancelled");
  return (running || subscribed[0] || { customer_uid: null }).customer_uid;
}

function isView(view) {
  return isObject(view) && isObject(view.card) && Array.isArray(view.schedules);
}

// --- a price change ---

/** The view's price change, when it is one the page can show in full; else null. */
function offeredChange(view) {
  const offer = view.price_change;
  const whole = (n) => Number.isInteger(n) && n > 0;
  const valid =
    isObject(offer) &&
    whole(offer.previous_amount) &&
    whole(offer.amount) &&
    [offer.period_at, offer.consent_from, offer.consent_until].every((at) => toDate(at) !== null);
  return valid ? offer : null;
}

function priceMoney(amount) {
  const known = plan(state.view);
  return money(amount, known ? known.currency : "KRW");
}

/** Where the consent window is now: "before", "open" or "after" (the server decides by its own clock). */
function consentWindow(offer) {
  const now = Date.now();
  if (now < toDate(offer.consent_from)) return "before";
  return now < toDate(offer.consent_until) ? "open" : "after";
}

function withoutConsentText(offer) {
  const at = kstDateTime(offer.period_at);
  return offer.without_consent === "end"
    ? `동의하지 않으시면 구독은 ${at}에 종료됩니다. 그때까지는 지금처럼 이용할 수 있으며, 그 뒤로는 결제되지 않습니다.`
    : `동의하지 않으시면 요금은 지금처럼 ${priceMoney(offer.previous_amount)}으로 유지되며, 구독도 그대로 이어집니다.`;
}

/** What the notice says, and whether the customer can consent now. */
function priceChangeNotice(view, offer) {
  const at = kstDateTime(offer.period_at);
  const before = priceMoney(offer.previous_amount);
  const after = priceMoney(offer.amount);
  if (!offer.consent_required) {
    return { lines: [`${at} 결제부터 요금이 ${before}에서 ${after}으로 내려갑니다.`, "따로 하실 일은 없습니다."] };
  }
  const rise = `${at} 결제부터 요금이 ${before}에서 ${after}으로 오릅니다.`;
  if (offer.consented_at) {
    return {
      lines: [
        rise,
        `${kstDateTime(offer.consented_at)}에 가격 변경에 동의하셨습니다. 새 요금은 결제 카드(${cardText(view)})로 결제됩니다.`,
      ],
    };
  }
  if (offer.lapsed) {
    if (offer.without_consent === "end") {
      const ended = toDate(offer.period_at) <= Date.now();
      return {
        lines: [
          `동의 기한까지 동의하지 않으셔서 가격은 바뀌지 않았으며, 안내한 대로 구독이 ${at}에 ${ended ? "종료되었습니다" : "종료됩니다"}.`,
          "그 뒤로는 결제되지 않습니다.",
        ],
      };
    }
    return {
      lines: [
        "동의 기한까지 동의하지 않으셔서 가격은 바뀌지 않았습니다.",
        `요금은 지금처럼 ${before}이며, ${at} 결제도 ${before}으로 청구됩니다.`,
      ],
    };
  }
  const lines = [rise, `새 요금은 지금 등록된 결제 카드(${cardText(view)})로 결제됩니다.`, withoutConsentText(offer)];
  const from = kstDateTime(offer.consent_from);
  const until = kstDateTime(offer.consent_until);
  const opening = consentWindow(offer);
  if (opening === "after") {
    lines.push(`동의할 수 있는 기간(${until}까지)이 지났습니다.`);
    return { lines };
  }
  lines.push(`가격 변경 동의는 ${from}부터 ${until}까지 할 수 있습니다.`);
  if (opening === "before") {
    lines.push(`${from}부터 이 페이지에서 동의할 수 있습니다.`);
    return { lines };
  }
  if (!/^[0-9]{4}$/.test(view.card.last4 || "")) {
    lines.push("지금은 이 페이지에서 동의할 수 없습니다. 고객센터에 문의해 주세요.");
    return { lines };
  }
  return { lines, canConsent: true };
}

function renderPriceChange(view) {
  const offer = offeredChange(view);
  // A subscription the customer cancelled has nothing to consent to; one that ended for want of consent says so
  const shown = offer !== null && (view.subscription_status !== "cancelled" || offer.lapsed);
  priceChange.hidden = !shown;
  consentButton.hidden = true;
  if (!shown) {
    priceText.replaceChildren();
    return;
  }
  const notice = priceChangeNotice(view, offer);
  priceText.replaceChildren(...notice.lines.map((line) => element("p", "", line)));
  consentButton.hidden = !notice.canConsent;
}

/** The dialog says exactly what the customer agrees to: the date, both prices, the card, and the alternative. */
function consentLines(view, offer) {
  const at = kstDateTime(offer.period_at);
  const after = priceMoney(offer.amount);
  return [
    `구독 요금이 ${priceMoney(offer.previous_amount)}에서 ${after}으로 오르는 데 동의합니다.`,
    `${at} 결제부터 ${after}이 결제 카드(${cardText(view)})로 청구됩니다.`,
    withoutConsentText(offer),
  ];
}

consentButton.addEventListener("click", async () => {
  const view = state.view;
  const offer = view && offeredChange(view);
  if (!offer || state.busy) return;
  const sure = await confirmAction("가격 변경에 동의할까요?", consentLines(view, offer), "동의하기");
  if (!sure) return;
  // The terms exactly as the server offered them and the page showed them: it checks each one
  const body = {
    previous_amount: offer.previous_amount,
    amount: offer.amount,
    period_at: offer.period_at,
    card_last4: view.card.last4,
    agree: true,
  };
  await change(async () => {
    const answer = await send("POST", subscriptionPath("/price-consent"), {
      key: newIdempotencyKey(),
      body: JSON.stringify(body),
    });
    await loadView();
    const reply = answer.body || {};
    if (answer.status === 200) {
      const amount = Number.isInteger(reply.amount) ? reply.amount : offer.amount;
      showResult("success", "가격 변경에 동의했습니다.", [
        `${kstDateTime(reply.period_at || offer.period_at)} 결제부터 ${priceMoney(amount)}이 결제 카드(${cardText(view)})로 청구됩니다.`,
        reply.consented_at ? `동의 일시: ${kstDateTime(reply.consented_at)}` : "",
      ]);
      return;
    }
    const errors = Array.isArray(reply.errors) ? reply.errors : [];
    if (answer.status === 400 && errors.some((e) => isObject(e) && e.reason === "not_the_offered_terms")) {
      showResult("error", PRICE_TERMS_CHANGED);
      return;
    }
    showError(answer);
  });
});

// --- confirmations ---

/** Shows the dialog; resolves true when the customer confirms. The safe button has the focus. */
function confirmAction(title, lines, confirmLabel) {
  confirmTitle.textContent = title;
  confirmText.replaceChildren(...lines.map((line) => element("p", "", line)));
  confirmYes.textContent = confirmLabel;
  dialog.returnValue = "";
  dialog.showModal();
  confirmNo.focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
  });
}

confirmYes.addEventListener("click", () => dialog.close("confirm"));
confirmNo.addEventListener("click", () => dialog.close());

/** Runs one confirmed change: busy while it is sent, the network's failure said, the view fetched again. */
async function change(work) {
  setBusy(true);
  try {
    await work();
  } catch {
    showResult("error", messages.NETWORK_MESSAGE, [NETWORK_DETAIL]);
  } finally {
    setBusy(false);
  }
}

// --- skip ---

skipButton.addEventListener("click", async () => {
  const next = nextCharge(state.view);
  if (!next || state.busy) return;
  const sure = await confirmAction(
    "다음 결제 건너뛰기",
    [
      `${payment(next)} 결제를 건너뜁니다.`,
      "이번 결제만 청구되지 않으며, 구독은 그다음 주기부터 이어집니다.",
    ],
    "건너뛰기",
  );
  if (!sure) return;
  await change(async () => {
    const path = subscriptionPath(`/schedules/${encodeURIComponent(next.merchant_uid)}`);
    const answer = await send("DELETE", path, { key: newIdempotencyKey() });
    await loadView(); // skipped, or charged meanwhile: either way the list has changed
    if (answer.status !== 200) {
      showError(answer);
      return;
    }
    showResult("success", `${kstDateTime(next.schedule_at)} 결제를 건너뛰었습니다.`, [
      "그다음 결제는 다음 주기에 예약됩니다.",
    ]);
  });
});

// --- cancel ---

function cancelLines(view) {
  const next = nextCharge(view);
  if (view.subscription_status === "active" && next) {
    const at = kstDateTime(next.schedule_at);
    return [
      `다음 결제일(${at})부터 청구되지 않으며, ${at}까지 이용할 수 있습니다.`,
      "등록된 카드 정보는 이용 기간이 끝날 때 삭제됩니다.",
    ];
  }
  return [
    "예정된 결제가 모두 취소되어 더 이상 청구되지 않으며, 이미 결제된 기간이 끝날 때까지 이용할 수 있습니다.",
    "등록된 카드 정보는 이용 기간이 끝날 때 삭제됩니다.",
  ];
}

cancelButton.addEventListener("click", async () => {
  if (!state.view || state.busy) return;
  if (!(await confirmAction("구독을 해지할까요?", cancelLines(state.view), "해지하기"))) return;
  await change(async () => {
    const answer = await send("DELETE", subscriptionPath(), { key: newIdempotencyKey() });
    await loadView();
    if (answer.status !== 200) {
      showError(answer);
      return;
    }
    const ends = answer.body.ends_at;
    showResult("success", "구독이 해지되었습니다.", [
      ends ? `${kstDateTime(ends)}까지 이용할 수 있으며, 더 이상 결제되지 않습니다.` : "더 이상 결제되지 않습니다.",
      answer.body.billing_key_deleted ? "등록된 카드 정보가 삭제되었습니다." : "",
    ]);
  });
});

// --- erasure ---

function eraseLines(view, merchant) {
  const contact = merchant && merchant.phone ? ` (${merchant.phone})` : "";
  return [
    "구독이 지금 바로 종료되며, 이미 결제된 이용 기간도 함께 끝납니다.",
    `결제된 금액은 환불되지 않습니다. 환불은 판매자 고객센터${contact}로 요청해 주세요.`,
    `등록된 결제 카드(${cardText(view)})가 삭제됩니다.`,
    "계약에 관한 기록(약관 동의 포함)과 결제 기록은 전자상거래법에 따라 5년간 보관되며, 삭제가 끝나면 보관되는 기록을 알려 드립니다.",
  ];
}

function keptList(kept) {
  const list = element("ul", "kept");
  for (const record of kept.filter(isObject)) {
    const name = KEPT_RECORDS[record.record] || record.record;
    const item = element("li", "", `${name} ${record.count}건: ${kstDateTime(record.until)}까지 보관`);
    if (record.law) item.append(element("span", "kept-law", `근거: ${record.law}`));
    list.append(item);
  }
  return list;
}

eraseButton.addEventListener("click", async () => {
  if (!state.view || state.busy) return;
  const merchant = state.terms && state.terms.merchant;
  const sure = await confirmAction("내 정보를 삭제할까요?", eraseLines(state.view, merchant), "삭제 요청");
  if (!sure) return;
  await change(async () => {
    const answer = await send("POST", subscriptionPath("/erasure"), { key: newIdempotencyKey() });
    if (answer.status !== 200) {
      showError(answer);
      return;
    }
    hideSubscription(); // the answer alone says what happened
    const kept = Array.isArray(answer.body.kept) ? answer.body.kept : [];
    const extra = kept.length ? element("div", "kept-records") : null;
    if (extra) extra.append(element("p", "result-detail", "법에 따라 보관하는 기록:"), keptList(kept));
    showResult(
      "success",
      "내 정보를 삭제했습니다.",
      [
        answer.body.subscription_ended
          ? "구독이 종료되었고 등록된 카드가 삭제되었습니다."
          : "등록된 카드가 삭제되었습니다.",
      ],
      extra,
    );
  });
});

// --- card change ---

function openCardChange() {
  cardChange.hidden = false;
  changeButton.setAttribute("aria-expanded", "true");
  inputs.card_number.focus();
}

function closeCardChange() {
  cardChange.hidden = true;
  changeButton.setAttribute("aria-expanded", "false");
}

changeButton.addEventListener("click", () => {
  if (cardChange.hidden) openCardChange();
  else closeCardChange();
});

function problemOf(name) {
  const { value } = inputs[name];
  switch (name) {
    case "card_number":
      return cards.cardNumberProblem(value);
    case "expiry": {
      if (value.trim() === "") return "required";
      const yyyymm = cards.expiryFromCard(value);
      return yyyymm === null ? "format_yyyy_mm" : cards.expiryProblem(yyyymm);
    }
    case "birth":
      return cards.birthProblem(value);
    default:
      return cards.pinProblem(value, inputs.birth.value);
  }
}

function showFieldError(name, reason) {
  const input = inputs[name];
  document.getElementById(`${name}-error`).textContent = reason ? messages.fieldMessage(name, reason) : "";
  if (reason) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

// The brand the first digits name, in its slot inside the field as on the card page
function showBrand() {
  brandSlot.textContent = cards.cardBrand(cards.cardDigits(inputs.card_number.value)).label;
}

// Typed as printed on the card: digits grouped as the brand prints them, MM/YY; checked once the customer
// leaves a field.
const SHAPERS = {
  card_number: (v) => cards.groupCardDigits(v.replace(/\D/g, "").slice(0, 19)),
  expiry: (v) => {
    const digits = v.replace(/\D/g, "").slice(0, 4);
    return digits.length > 2 ? `${digits.slice(0, 2)}/${digits.slice(2)}` : digits;
  },
  birth: (v) => v.replace(/[^\d-]/g, "").slice(0, 12),
  pwd_2digit: (v) => v.replace(/\D/g, "").slice(0, 2),
};

for (const [name, input] of Object.entries(inputs)) {
  input.addEventListener("input", () => {
    const atEnd = input.selectionStart === input.value.length;
    const shaped = SHAPERS[name](input.value);
    if (shaped !== input.value && (atEnd || name !== "card_number")) input.value = shaped;
    if (name === "card_number") showBrand();
    if (input.getAttribute("aria-invalid")) showFieldError(name, problemOf(name));
  });
  input.addEventListener("blur", () => {
    if (input.value !== "") showFieldError(name, problemOf(name));
  });
}

async function loadTerms() {
  const terms = await getJson(TERMS_PATH);
  const valid =
    isObject(terms) &&
    typeof terms.version === "string" &&
    Array.isArray(terms.items) &&
    terms.items.every(
      (i) => isObject(i) && Object.hasOwn(messages.CONSENT_KINDS, i.kind) && Array.isArray(i.applies_to),
    );
  renderTerms(valid ? terms : null);
}

function renderTerms(terms) {
  state.terms = terms;
  state.consents = new Map();
  consentsError.textContent = "";
  termsStatus.textContent = terms === null ? messages.TERMS_UNAVAILABLE : "";
  termsStatus.classList.toggle("error", terms === null);
  // A card change asks for the card's consents only: the plan's were given when it began.
  const items = terms === null ? [] : terms.items.filter((item) => item.applies_to.includes("card"));
  consentList.replaceChildren(...items.map(consentRow));
  cardSubmit.disabled = state.busy || terms === null;
}

/** One consent as the card page shows it: (필수)/(선택) with a box, 안내 without, and 보기 to open its text. */
function consentRow(item) {
  const row = element("li", "consent-item");
  const line = element("div", "consent-line");
  let box = null;
  if (item.kind === "notice") {
    const badge = element("span", "consent-badge", messages.CONSENT_KINDS.notice);
    line.append(badge, element("span", "consent-title", item.title));
  } else {
    box = element("input");
    box.type = "checkbox";
    box.id = `consent-${item.id}`;
    box.setAttribute("aria-describedby", "consents-error");
    box.addEventListener("change", () => {
      if (consentsError.textContent) showConsentErrors();
    });
    const label = element("label", "consent-title");
    label.htmlFor = box.id;
    label.append(element("span", `consent-kind ${item.kind}`, messages.CONSENT_KINDS[item.kind]), ` ${item.title}`);
    line.append(box, label);
  }
  const text = element("div", "consent-text");
  text.id = `consent-${item.id}-text`;
  text.hidden = true;
  text.tabIndex = 0; // long terms scroll inside the box, by keyboard too
  text.setAttribute("role", "region");
  text.setAttribute("aria-label", item.title);
  text.append(element("p", "", item.text));
  const toggle = element("button", "consent-toggle");
  toggle.type = "button";
  toggle.setAttribute("aria-expanded", "false");
  toggle.setAttribute("aria-controls", text.id);
  toggle.append(element("span", "visually-hidden", `${item.title} `), "보기");
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    text.hidden = !open;
  });
  line.append(toggle);
  row.append(line, text);
  state.consents.set(item.id, { item, checkbox: box });
  return row;
}

function missingConsents() {
  return [...state.consents.values()].filter(({ item, checkbox }) => item.kind === "required" && !checkbox.checked);
}

/** Marks the required consents not ticked and names them; returns them. */
function showConsentErrors() {
  const missing = missingConsents();
  for (const { checkbox } of state.consents.values()) {
    if (!checkbox) continue;
    if (missing.some((m) => m.checkbox === checkbox)) checkbox.setAttribute("aria-invalid", "true");
    else checkbox.removeAttribute("aria-invalid");
  }
  const titles = missing.map(({ item }) => item.title);
  consentsError.textContent = missing.length ? messages.missingConsentsText(titles) : "";
  return missing;
}

function cardBody() {
  const body = {
    card_number: cards.cardDigits(inputs.card_number.value),
    expiry: cards.expiryFromCard(inputs.expiry.value),
    birth: cards.birthDigits(inputs.birth.value),
  };
  if (inputs.pwd_2digit.value !== "") body.pwd_2digit = inputs.pwd_2digit.value;
  const ticked = [...state.consents.values()].filter(({ checkbox }) => checkbox && checkbox.checked);
  body.consents = { version: state.terms.version, items: ticked.map(({ item }) => item.id) };
  return body;
}

function clearCard() {
  for (const name of Object.keys(inputs)) {
    inputs[name].value = "";
    showFieldError(name, null);
  }
  showBrand();
  for (const { checkbox } of state.consents.values()) if (checkbox) checkbox.checked = false;
}

/** The server's field and consent errors next to their fields; true when it named any. */
function showServerErrors(body) {
  const listed = Array.isArray(body.errors) ? body.errors : [];
  const errors = listed.filter((error) => isObject(error) && typeof error.field === "string");
  if (errors.some((e) => e.field === "consents.version" || e.reason === "unknown_item")) {
    loadTerms().then(() => {
      consentsError.textContent = messages.TERMS_CHANGED;
    });
    showResult("error", messages.TERMS_CHANGED);
    return true;
  }
  const fields = errors.filter((e) => Object.hasOwn(inputs, e.field));
  for (const error of fields) showFieldError(error.field, error.reason);
  const consents = errors.some((e) => e.field.startsWith("consents")) ? showConsentErrors() : [];
  if (fields.length === 0 && consents.length === 0) return false;
  showResult("error", messages.INVALID_INPUT);
  (fields.length ? inputs[fields[0].field] : consents[0].checkbox).focus();
  return true;
}

async function submitCard() {
  if (state.busy || state.terms === null) return;
  const invalid = Object.keys(inputs).filter((name) => {
    const problem = problemOf(name);
    showFieldError(name, problem);
    return problem;
  });
  const missing = showConsentErrors();
  if (invalid.length || missing.length) {
    showResult("error", `${messages.INVALID_INPUT} (${invalid.length + missing.length}개 항목)`);
    (invalid.length ? inputs[invalid[0]] : missing[0].checkbox).focus();
    return;
  }
  const bodyText = JSON.stringify(cardBody());
  const key = state.unsettled && state.unsettled.body === bodyText ? state.unsettled.key : newIdempotencyKey();
  state.unsettled = { body: bodyText, key }; // until the answer says what happened
  showResult("progress", "결제 카드를 변경하고 있습니다…");
  await change(async () => {
    const answer = await send("PUT", subscriptionPath("/card"), { key, body: bodyText });
    const body = answer.body || {};
    if (answer.byWaf) {
      // Stopped at the edge before the API: nothing changed, and a reload earns a new WAF token.
      state.unsettled = null;
      showResult("error", messages.WAF_CHECK);
      return;
    }
    if (answer.status === 202) {
      // The new card could not be confirmed, so the server withdrew it: nothing changed, and trying
      // again is a new request (a new key); the card stays in the form for it.
      state.unsettled = null;
      showResult("error", "결제 카드를 변경하지 못했습니다.", [
        "결제대행사의 응답을 확인하지 못해 변경하지 않았습니다. 다음 결제도 지금 카드로 진행됩니다. 잠시 후 다시 시도해 주세요.",
      ]);
      return;
    }
    if (answer.status !== 503 && body.code !== "REQUEST_IN_PROGRESS") state.unsettled = null;
    if (answer.status === 200) {
      clearCard();
      closeCardChange();
      await loadView();
      const card = body.card || {};
      const newCard = `${card.name || "새 카드"} **** ${card.last4 || "----"}`;
      showResult("success", "결제 카드가 변경되었습니다.", [
        body.subscription_status === "past_due"
          ? `밀린 결제는 몇 분 안에 ${newCard}로 다시 진행됩니다.`
          : `다음 결제부터 ${newCard}로 청구됩니다.`,
      ]);
      return;
    }
    if (answer.status === 400 && showServerErrors(body)) return;
    if (body.code === "BILLING_KEY_REPLACED") await loadView();
    showError(answer);
  });
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  submitCard();
});

// --- start ---

Promise.all([getJson(PLANS_PATH), loadTerms()]).then(([plans]) => {
  state.plans = plans && Array.isArray(plans.plans) ? plans.plans.filter(isObject) : [];
  return loadView();
});
