// The card form: checks the card as it is typed (the server's rules, cards.js), sends it once per submission
// with an Idempotency-Key, and shows a registered or unconfirmed card on a screen of its own. Card values
// never go into the URL, storage or the console; they live in the form's fields and, while a submission's
// outcome is unknown, in memory only. The customer never sees or types an internal identifier: the server
// mints the customer_uid, and the page does not show it.
// The terms the API serves come first: until they are shown, with the seller's identity, the form cannot be
// sent, and every card request carries the consents ticked against their version.

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

const ISSUE_PATH = "/subscriptions/issue-billing";
const SCHEDULE_PATH = "/subscriptions/schedule";
const PLANS_PATH = "/subscriptions/plans";
const TERMS_PATH = "/subscriptions/terms";
const MAX_RETRIES = 2; // automatic retries of one submission (409 and 503 with Retry-After only)
const MAX_RETRY_WAIT_S = 10;
const REQUEST_TIMEOUT_MS = 35000; // API Gateway gives up on the function after 30 s
const GET_TIMEOUT_MS = 10000;
const PLANS_REFRESH_MS = 60000; // the charge times shown are the server's from at most a minute ago

// The codes whose message says what this page does, over the ones both pages share
const CODE_MESSAGES = {
  ...messages.CODE_MESSAGES,
  CARD_REJECTED: "카드사에서 카드를 승인하지 않았습니다. 카드 정보를 확인하거나 다른 카드를 사용해 주세요.",
  CUSTOMER_NOT_FOUND: "등록 정보를 찾을 수 없습니다. 페이지를 새로 고친 뒤 다시 시도해 주세요.",
  SUBSCRIPTION_EXISTS:
    "이미 구독 중인 고객입니다. 결제 카드를 바꾸려면 카드 변경을, 다른 요금제로 바꾸려면 기존 구독을 해지한 뒤 다시 시도해 주세요.",
  PAYMENT_PROVIDER_REJECTED: "지금은 카드를 등록할 수 없습니다. 고객센터에 문의해 주세요.",
  PAYMENT_PROVIDER_AUTH_FAILED: "결제 설정 문제로 카드를 등록할 수 없습니다. 고객센터에 문의해 주세요.",
  PAYMENT_CHANNEL_MISCONFIGURED:
    "결제 설정 문제로 지금은 카드를 등록할 수 없습니다. 결제는 이루어지지 않았습니다. 고객센터에 문의해 주세요.",
  SIGN_IN_REQUIRED: "정기결제는 로그인한 뒤 신청할 수 있습니다.",
  SCHEDULE_NOT_FOUND: "취소할 수 있는 결제 예정 건이 없습니다.",
  PERIOD_ALREADY_CHARGED: "이미 결제된 건이라 취소할 수 없습니다.",
  BILLING_KEY_REPLACED: "결제 카드가 변경되어 이 결제수단은 더 이상 쓰이지 않습니다. 구독 정보를 새로 불러와 주세요.",
  FORBIDDEN: "카드를 등록할 권한이 없습니다.",
};
const NETWORK_DETAIL =
  "인터넷 연결을 확인한 뒤 다시 시도해 주세요. 같은 내용으로 다시 시도하면 카드가 두 번 등록되지 않습니다.";
const TERMS_CHANGED_RESULT =
  "약관이 변경되어 카드를 등록하지 않았습니다. 변경된 약관을 확인하고 동의한 뒤 다시 제출해 주세요.";
const CARD_TYPES = { credit: "신용카드", check: "체크카드" };
const PENDING_TITLE = "카드 등록 여부를 아직 확인하지 못했습니다";
const PENDING_TEXT =
  "결제대행사의 응답이 늦어져 카드가 등록되었는지 확인하지 못했습니다. 카드 정보를 새로 입력하지 말고, 잠시 후 아래 버튼으로 다시 확인해 주세요. 같은 요청으로 확인하므로 카드가 두 번 등록되지 않습니다. 계속 확인되지 않으면 고객센터에 문의해 주세요.";

const formScreen = document.getElementById("form-screen");
const form = document.getElementById("card-form");
const controls = document.getElementById("controls"); // every control of the form: disabled while it is sent
const submitButton = document.getElementById("submit");
const result = document.getElementById("result");
const outcome = document.getElementById("outcome");
const brandSlot = document.getElementById("card_number-brand");
const planGroup = document.getElementById("plan-group");
const planOptions = document.getElementById("plan-options");
const chargeBox = document.getElementById("charge");
const chargeDetails = document.getElementById("charge-details");
const termsStatus = document.getElementById("terms-status");
const consentList = document.getElementById("consent-list");
const consentsError = document.getElementById("consents-error");
const merchantFooter = document.getElementById("merchant");
const merchantDetails = document.getElementById("merchant-details");
const policyLinks = document.getElementById("policy-links");
const inputs = {
  card_number: document.getElementById("card_number"),
  expiry: document.getElementById("expiry"),
  birth: document.getElementById("birth"),
  pwd_2digit: document.getElementById("pwd_2digit"),
};
// How many digits make a field complete: from then on it is checked on every keystroke.
const COMPLETE_AT = { expiry: 4, pwd_2digit: 2, birth: 10 };
// Where focus goes once a field is typed to its end, complete and valid (the PIN digits are the last).
const NEXT_FIELD = { card_number: "expiry", expiry: "birth", birth: "pwd_2digit" };

const state = {
  inFlight: false,
  submitted: false,
  touched: new Set(),
  plans: [],
  terms: null, // the terms shown, or null while they are loading or could not be loaded
  consents: new Map(), // item id -> { item, row, checkbox (null for a notice) }
  allBox: null, // 전체 동의
  consentsChecked: false, // a submission checked them: a missing one is named until it is ticked
  // A submission whose outcome is unknown (network error, still in progress, pending), as sent: {path,
  // body, key, plan}. Sending the same body again reuses its Idempotency-Key, so the server answers it
  // instead of issuing a second key; the customer_uid it minted is in that answer and not needed here.
  unsettled: null,
};

// --- checking the fields ---

function problemOf(name) {
  const value = inputs[name].value;
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
    case "pwd_2digit":
      return cards.pinProblem(value, inputs.birth.value);
    default:
      return null;
  }
}

function showFieldError(name, reason) {
  const input = name === "plan_id" ? null : inputs[name];
  const error = document.getElementById(`${name === "plan_id" ? "plan" : name}-error`);
  if (!error) return;
  error.textContent = reason ? messages.fieldMessage(name, reason) : "";
  if (input) {
    if (reason) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
}

function digitCount(value) {
  return value.replace(/\D/g, "").length;
}

function completeAt(name) {
  if (name === "card_number") return cards.cardBrand(cards.cardDigits(inputs.card_number.value)).length;
  return COMPLETE_AT[name];
}

function recheck(name, { force = false } = {}) {
  const problem = problemOf(name);
  const full = completeAt(name);
  const complete = full !== undefined && digitCount(inputs[name].value) >= full;
  if (!problem || force || state.submitted || state.touched.has(name) || complete) {
    showFieldError(name, problem);
  }
  return problem;
}

function checkAll() {
  return Object.keys(inputs).filter((name) => recheck(name, { force: true }));
}

// --- shaping what is typed ---

function keepCaretAfterDigits(input, formatted, digitsBefore) {
  let caret = 0;
  let seen = 0;
  while (caret < formatted.length && seen < digitsBefore) {
    if (/\d/.test(formatted[caret])) seen += 1;
    caret += 1;
  }
  input.setSelectionRange(caret, caret);
}

function formatCardNumber() {
  const input = inputs.card_number;
  const { value } = input;
  const digitsBefore = digitCount(value.slice(0, input.selectionStart ?? value.length));
  const formatted = cards.groupCardDigits(value.replace(/\D/g, "").slice(0, 19));
  if (formatted !== value) {
    input.value = formatted;
    keepCaretAfterDigits(input, formatted, digitsBefore);
  }
  showBrand();
}

// The field describes itself by its brand (aria-describedby), so a screen reader says it when asked, not
// on every digit.
function showBrand() {
  brandSlot.textContent = cards.cardBrand(cards.cardDigits(inputs.card_number.value)).label;
}

function formatExpiry() {
  const input = inputs.expiry;
  const { value } = input;
  const longYear = /^\s*(\d{1,2})\s*\/\s*(\d{4})\s*$/.exec(value); // autofill may give MM/YYYY
  let digits = longYear ? longYear[1].padStart(2, "0") + longYear[2].slice(2) : value.replace(/\D/g, "");
  digits = digits.slice(0, 4);
  const formatted = digits.length > 2 ? `${digits.slice(0, 2)}/${digits.slice(2)}` : digits;
  if (formatted !== value) input.value = formatted;
}

function keepOnly(input, pattern, max) {
  const cleaned = input.value.replace(pattern, "").slice(0, max);
  if (cleaned !== input.value) input.value = cleaned;
}

const SHAPERS = {
  card_number: formatCardNumber,
  expiry: formatExpiry,
  birth: () => keepOnly(inputs.birth, /[^\d-]/g, 12),
  pwd_2digit: () => keepOnly(inputs.pwd_2digit, /\D/g, 2),
};

/** Typed (or pasted) to the end of a field that is then complete and valid: never after an edit in the
 * middle, a deletion, or while the field shows an error. */
function finishedTyping(name, event, problem) {
  const input = inputs[name];
  if (problem || !event.inputType?.startsWith("insert") || input.selectionStart !== input.value.length) {
    return false;
  }
  const digits = digitCount(input.value);
  if (name === "birth" && digits === 6) {
    // A dash, or digits that may begin a business number, say 10 digits may be coming
    return !input.value.includes("-") && !cards.mayBeginBusinessNumber(cards.birthDigits(input.value));
  }
  return digits === completeAt(name);
}

for (const [name, input] of Object.entries(inputs)) {
  input.addEventListener("input", (event) => {
    SHAPERS[name]?.();
    const problem = recheck(name);
    if (name === "birth" && (state.touched.has("pwd_2digit") || state.submitted)) recheck("pwd_2digit");
    if (NEXT_FIELD[name] && finishedTyping(name, event, problem)) moveFocus(inputs[NEXT_FIELD[name]]);
  });
  input.addEventListener("blur", () => {
    if (input.value !== "") state.touched.add(name);
    recheck(name);
  });
}

// --- talking to the API ---

/** POST one submission; retries 409 and 503 answers that carry Retry-After, with the same key and body. */
async function postOnce(path, bodyText, key) {
  const headers = { "Content-Type": "application/json", "Idempotency-Key": key, Accept: "application/json" };
  const token = await accessToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  for (let attempt = 0; ; attempt += 1) {
    const response = await fetch(API_BASE_URL + path, {
      method: "POST",
      headers,
      body: bodyText,
      credentials: "same-origin", // AWS WAF's token cookie, behind the edge; no cookie elsewhere
      cache: "no-store",
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const wait = retryAfterSeconds(response);
    if ((response.status === 409 || response.status === 503) && wait !== null && attempt < MAX_RETRIES) {
      await sleep(Math.min(wait, MAX_RETRY_WAIT_S) * 1000 + Math.random() * 250);
      continue;
    }
    const body = await readJson(response);
    return { status: response.status, body, retryAfter: wait, byWaf: answeredByWaf(response, body) };
  }
}

/** GET an API resource as the caller; null when it is missing, refused or unreachable. */
async function getJson(path) {
  try {
    const headers = { Accept: "application/json" };
    const token = await accessToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(API_BASE_URL + path, {
      headers,
      credentials: "same-origin", // AWS WAF's token cookie, behind the edge; no cookie elsewhere
      cache: "no-store",
      signal: AbortSignal.timeout(GET_TIMEOUT_MS),
    });
    return response.ok ? await readJson(response) : null;
  } catch {
    return null;
  }
}

async function loadPlans() {
  const answer = await getJson(PLANS_PATH);
  // No plans route (yet), not allowed, or unreachable: the page offers the card form only
  return answer && Array.isArray(answer.plans) ? answer.plans.filter(isPlan) : [];
}

function isObject(value) {
  return value !== null && typeof value === "object";
}

// A plan is offered only with the times it will charge at, so the customer sees them before agreeing.
function isPlan(plan) {
  return (
    isObject(plan) &&
    typeof plan.id === "string" &&
    typeof plan.name === "string" &&
    typeof plan.amount === "number" &&
    typeof plan.currency === "string" &&
    toDate(plan.first_charge_at) !== null &&
    toDate(plan.next_charge_at) !== null
  );
}

async function loadTerms() {
  const terms = await getJson(TERMS_PATH);
  return isTerms(terms) ? terms : null;
}

// An item of a kind the page does not know might be one the server requires: such terms are not shown at
// all rather than shown without it.
function isTerms(terms) {
  return (
    isObject(terms) &&
    typeof terms.version === "string" &&
    terms.version !== "" &&
    isObject(terms.merchant) &&
    Array.isArray(terms.items) &&
    terms.items.every(
      (item) =>
        isObject(item) &&
        typeof item.id === "string" &&
        typeof item.title === "string" &&
        typeof item.text === "string" &&
        Object.hasOwn(messages.CONSENT_KINDS, item.kind) &&
        Array.isArray(item.applies_to),
    )
  );
}

// --- showing things ---

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The URL when it is a web address (never javascript: or the like from an answer), else null. */
function webUrl(value) {
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

/** A link that opens beside the page, so the card typed in so far is not lost. */
function newTabLink(href, text) {
  const link = element("a", "", text);
  link.href = href;
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  link.append(element("span", "visually-hidden", " (새 창)"));
  return link;
}

function detailPairs(rows) {
  return rows.map(([term, ...details]) => {
    const pair = element("div");
    const detail = element("dd");
    detail.append(...details);
    pair.append(element("dt", "", term), detail);
    return pair;
  });
}

function planLabel(plan) {
  const every = cycle(plan.interval);
  return `${plan.name} · ${money(plan.amount, plan.currency)}${every ? ` / ${every}` : ""}`;
}

function renderPlans(plans) {
  state.plans = plans;
  if (plans.length === 0) return;
  const choices = [{ id: "", label: "카드만 등록" }, ...plans.map((p) => ({ id: p.id, label: planLabel(p) }))];
  planOptions.replaceChildren(
    ...choices.map((choice, index) => {
      const label = element("label", "plan-option");
      const radio = element("input");
      radio.type = "radio";
      radio.name = "plan";
      radio.value = choice.id;
      radio.checked = index === 0;
      radio.addEventListener("change", planChanged);
      label.append(radio, element("span", "", choice.label));
      return label;
    }),
    element("p", "error", ""),
  );
  planOptions.lastElementChild.id = "plan-error";
  planGroup.setAttribute("aria-describedby", "plan-error");
  planGroup.hidden = false;
  planChanged();
}

/** The plans again, for charge times that stay true while the page is open; a failed refresh keeps them. */
async function refreshPlans() {
  if (state.inFlight) return;
  const plans = await loadPlans();
  if (state.inFlight || plans.length === 0) return;
  const offer = (list) => list.map((plan) => `${plan.id} ${planLabel(plan)}`).join("\n");
  if (offer(plans) === offer(state.plans)) {
    state.plans = plans;
    renderCharge();
  } else {
    renderPlans(plans); // the offer itself changed: the customer chooses again
  }
}

function selectedPlan() {
  const checked = planOptions.querySelector('input[name="plan"]:checked');
  return (checked && state.plans.find((plan) => plan.id === checked.value)) || null;
}

function planChanged() {
  // A plan's own consents are given for the plan in view: another plan (another amount) asks again.
  for (const { item, checkbox } of state.consents.values()) {
    if (checkbox && !item.applies_to.includes("card")) checkbox.checked = false;
  }
  showApplicableConsents();
  renderCharge();
  updateButton();
}

function renderCharge() {
  const plan = selectedPlan();
  chargeBox.hidden = plan === null;
  if (plan === null) return;
  const rows = [
    ["결제 금액", money(plan.amount, plan.currency)],
    ["결제 주기", `${cycle(plan.interval)} 자동 결제 (해지할 때까지)`],
    ["첫 결제", kstDateTime(plan.first_charge_at)],
    ["다음 결제", kstDateTime(plan.next_charge_at)],
  ];
  const howToCancel = state.terms && state.terms.merchant.how_to_cancel;
  if (howToCancel) rows.push(["해지 방법", howToCancel]);
  chargeDetails.replaceChildren(...detailPairs(rows));
}

function idleLabel() {
  const plan = selectedPlan();
  if (plan === null) return "동의하고 카드 등록";
  return `${cycle(plan.interval)} ${money(plan.amount, plan.currency)} 결제에 동의하고 구독 시작`;
}

function updateButton() {
  submitButton.disabled = state.inFlight || state.terms === null;
  submitButton.textContent = state.inFlight ? "등록 중…" : idleLabel();
}

function setBusy(busy) {
  state.inFlight = busy;
  controls.disabled = busy;
  updateButton();
  if (busy) form.setAttribute("aria-busy", "true");
  else form.removeAttribute("aria-busy");
}

function showMessage(kind, text, detail = "") {
  const box = element("div", `result-box ${kind}`);
  box.append(element("p", "result-title", text));
  if (detail) box.append(element("p", "result-detail", detail));
  result.replaceChildren(box);
}

// --- the screens after an answer ---

/** The form, or an outcome screen in its place: a heading (focused), what happened, and one next step. */
function showScreen(screen) {
  formScreen.hidden = screen !== formScreen;
  outcome.hidden = screen !== outcome;
}

function showOutcome(kind, { title, text, rows = [], next, onNext }) {
  const heading = element("h1", "", title);
  heading.id = "outcome-title";
  heading.tabIndex = -1;
  const button = element("button", "primary", next);
  button.type = "button";
  button.addEventListener("click", onNext);
  outcome.className = `outcome ${kind}`;
  outcome.replaceChildren(heading);
  if (text) outcome.append(element("p", "outcome-text", text));
  if (rows.length) {
    const list = element("dl");
    list.append(...detailPairs(rows));
    outcome.append(list);
  }
  outcome.append(button);
  showScreen(outcome);
  moveFocus(heading);
}

/** The charges still to come, in Korea's time. */
function upcomingCharges(schedules) {
  const list = element("ul", "charges");
  for (const s of schedules.filter((each) => isObject(each) && each.status === "scheduled")) {
    list.append(element("li", "", `${kstDateTime(s.schedule_at)} · ${money(s.amount, s.currency)}`));
  }
  return list;
}

function showSuccess(answer, plan) {
  const card = answer.card || {};
  const rows = [["카드", `${card.name || "카드"} **** ${card.last4 || "----"}`]];
  if (CARD_TYPES[card.type]) rows.push(["카드 종류", CARD_TYPES[card.type]]);
  if (plan) {
    rows.push(["요금제", plan.name], ["결제 금액", `${cycle(plan.interval)} ${money(plan.amount, plan.currency)}`]);
    const charges = upcomingCharges(Array.isArray(answer.schedules) ? answer.schedules : []);
    if (charges.childElementCount) rows.push(["결제 예정 (한국 시간)", charges]);
    const howToCancel = state.terms && state.terms.merchant.how_to_cancel;
    if (howToCancel) rows.push(["해지 방법", howToCancel]);
  }
  showOutcome("success", {
    title: plan ? "구독이 시작되었습니다" : "카드가 등록되었습니다",
    text: plan ? "등록한 카드로 아래 일정에 따라 자동 결제됩니다." : "등록한 카드는 정기결제에 사용됩니다.",
    rows,
    next: "다른 카드 등록",
    onNext: startOver,
  });
}

// The submission stays as it was sent: checking again resends it unchanged (same body, same key), which a
// form the customer could edit would not guarantee.
function showPending(sent) {
  showOutcome("pending", {
    title: PENDING_TITLE,
    text: PENDING_TEXT,
    next: "다시 확인",
    onNext: () => send(sent, "카드 등록 여부를 다시 확인하고 있습니다…"),
  });
}

/** A fresh form: no card, no consent, "card only" chosen, and the first control focused. */
function startOver() {
  clearCardFields();
  resetConsents();
  const cardOnly = planOptions.querySelector('input[name="plan"]');
  if (cardOnly) {
    cardOnly.checked = true;
    planChanged();
  }
  result.replaceChildren();
  showScreen(formScreen);
  moveFocus(controls.querySelector("input"));
}

function moveFocus(target) {
  target.focus();
}

function clearCardFields() {
  for (const name of Object.keys(inputs)) {
    inputs[name].value = "";
    showFieldError(name, null);
  }
  showBrand();
  state.touched.clear();
  state.submitted = false;
}

// --- terms and consents ---

function renderTerms(terms) {
  state.terms = terms;
  state.consents = new Map();
  state.allBox = null;
  state.consentsChecked = false;
  consentsError.textContent = "";
  if (terms === null) {
    termsStatus.textContent = messages.TERMS_UNAVAILABLE;
    termsStatus.classList.add("error");
    consentList.replaceChildren();
    merchantFooter.hidden = true;
    updateButton();
    return;
  }
  termsStatus.textContent = "";
  termsStatus.classList.remove("error");
  consentList.replaceChildren(allConsentRow(), element("ul", "consent-items"));
  consentList.lastElementChild.append(...terms.items.map(consentRow));
  renderMerchant(terms.merchant);
  showApplicableConsents();
  renderCharge(); // its way to cancel comes with the terms
  updateButton();
}

function checkbox(id, describedBy) {
  const box = element("input");
  box.type = "checkbox";
  box.id = id;
  box.setAttribute("aria-describedby", describedBy);
  return box;
}

function allConsentRow() {
  const row = element("div", "consent-all");
  const box = checkbox("consent-all", "consent-all-hint consents-error");
  box.addEventListener("change", () => {
    for (const each of visibleCheckboxes()) each.checked = box.checked;
    consentChanged();
  });
  const label = element("label", "", "아래 내용을 모두 확인했으며 전체 동의합니다");
  label.htmlFor = box.id;
  const hint = element("p", "hint", "(선택) 항목 동의도 포함됩니다. (선택) 항목은 동의하지 않아도 등록할 수 있습니다.");
  hint.id = "consent-all-hint";
  row.append(box, label, hint);
  state.allBox = box;
  return row;
}

function consentRow(item) {
  const row = element("li", "consent-item");
  const line = element("div", "consent-line");
  let box = null;
  if (item.kind === "notice") {
    const badge = element("span", "consent-badge", messages.CONSENT_KINDS.notice);
    line.append(badge, element("span", "consent-title", item.title));
  } else {
    box = checkbox(`consent-${item.id}`, "consents-error");
    box.addEventListener("change", consentChanged);
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
  const url = webUrl(item.url);
  if (url) text.append(newTabLink(url, "전문 보기"));
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
  state.consents.set(item.id, { item, row, checkbox: box });
  return row;
}

function applies(item) {
  return item.applies_to.includes("card") || (selectedPlan() !== null && item.applies_to.includes("plan"));
}

function showApplicableConsents() {
  for (const { item, row, checkbox: box } of state.consents.values()) {
    row.hidden = !applies(item);
    if (row.hidden && box) {
      box.checked = false;
      box.removeAttribute("aria-invalid");
    }
  }
  consentChanged();
}

function visibleCheckboxes() {
  return [...state.consents.values()].filter(({ row, checkbox: box }) => box && !row.hidden).map((c) => c.checkbox);
}

function missingConsents() {
  return [...state.consents.values()].filter(
    ({ item, row, checkbox: box }) => item.kind === "required" && !row.hidden && !box.checked,
  );
}

function consentChanged() {
  if (state.allBox === null) return;
  const boxes = visibleCheckboxes();
  const ticked = boxes.filter((box) => box.checked).length;
  state.allBox.checked = boxes.length > 0 && ticked === boxes.length;
  state.allBox.indeterminate = ticked > 0 && ticked < boxes.length;
  if (state.consentsChecked) showConsentErrors(missingConsents());
}

/** Marks the consents still needed and names them next to the consents. */
function showConsentErrors(missing) {
  for (const consent of state.consents.values()) {
    if (!consent.checkbox) continue;
    if (missing.includes(consent)) consent.checkbox.setAttribute("aria-invalid", "true");
    else consent.checkbox.removeAttribute("aria-invalid");
  }
  const titles = missing.map(({ item }) => item.title);
  consentsError.textContent = missing.length ? messages.missingConsentsText(titles) : "";
}

function tickedConsents() {
  return [...state.consents.values()].filter(({ row, checkbox: box }) => box && !row.hidden && box.checked);
}

function resetConsents() {
  state.consentsChecked = false;
  for (const box of visibleCheckboxes()) box.checked = false;
  consentChanged();
}

/** The consents a 400 names as missing: all the required ones, or one item (`consents.items.<id>`). */
function consentsNamedBy(error) {
  if (error.field === "consents") return missingConsents().length ? missingConsents() : requiredConsents();
  const named = state.consents.get(error.field.slice("consents.items.".length));
  return named && named.checkbox ? [named] : [];
}

function requiredConsents() {
  return [...state.consents.values()].filter(({ item, row }) => item.kind === "required" && !row.hidden);
}

function isConsentError(error) {
  return error.field === "consents" || error.field.startsWith("consents.items.");
}

/** The server's terms are not the ones shown: a newer version, or an item this page does not have. */
function termsChanged(answer) {
  const body = answer.body || {};
  const errors = answer.status === 400 && Array.isArray(body.errors) ? body.errors : [];
  return errors.some(
    (error) =>
      isObject(error) &&
      typeof error.field === "string" &&
      (error.field === "consents.version" ||
        (error.field === "consents.items" && error.reason === "unknown_item") ||
        (error.field.startsWith("consents.items.") && consentsNamedBy(error).length === 0)),
  );
}

/** Shows the new terms, every box unticked, and asks the customer to review them and submit again. */
function reviewNewTerms(terms) {
  renderTerms(terms);
  if (state.terms === null) {
    showMessage("error", messages.TERMS_UNAVAILABLE);
    moveFocus(result);
    return;
  }
  consentsError.textContent = messages.TERMS_CHANGED;
  showMessage("error", TERMS_CHANGED_RESULT);
  moveFocus(state.allBox);
}

function renderMerchant(merchant) {
  const rows = [];
  const add = (term, ...details) => {
    if (details.every((d) => d)) rows.push([term, ...details]);
  };
  add("상호", merchant.name);
  add("대표자", merchant.representative);
  // One line when complaints go to the business address; both when they differ (전자상거래법 §10① 2호).
  if (!merchant.complaints_address || merchant.complaints_address === merchant.address) {
    add("주소 (소비자 불만 처리)", merchant.address);
  } else {
    add("주소", merchant.address);
    add("소비자 불만 처리 주소", merchant.complaints_address);
  }
  add("전화", merchant.phone);
  add("이메일", merchant.email);
  const infoUrl = webUrl(merchant.business_info_url);
  if (merchant.business_number && infoUrl) {
    add("사업자등록번호", `${merchant.business_number} `, newTabLink(infoUrl, "사업자정보확인"));
  } else {
    add("사업자등록번호", merchant.business_number);
  }
  const authority = merchant.mail_order_authority ? ` (${merchant.mail_order_authority})` : "";
  add("통신판매업 신고번호", merchant.mail_order_number && `${merchant.mail_order_number}${authority}`);
  add("호스팅서비스 제공자", merchant.hosting_provider);
  const contact = merchant.privacy_officer_contact ? ` (${merchant.privacy_officer_contact})` : "";
  add("개인정보 보호책임자", merchant.privacy_officer && `${merchant.privacy_officer}${contact}`);
  merchantDetails.replaceChildren(...detailPairs(rows));

  const links = [
    ["이용약관", merchant.terms_url, ""],
    ["개인정보처리방침", merchant.privacy_url, "privacy"], // set apart, as Korean privacy law expects
    ["환불 정책", merchant.refund_url, ""],
  ];
  policyLinks.replaceChildren(
    ...links
      .filter(([, url]) => webUrl(url))
      .map(([text, url, className]) => {
        const item = element("li", className);
        item.append(newTabLink(webUrl(url), text));
        return item;
      }),
  );
  merchantFooter.hidden = false;
}

function handleAnswer(answer, sent) {
  const body = answer.body || {};
  const code = body.code || messages.STATUS_CODES[answer.status];
  if (answer.status === 200 && body.status === "success") {
    state.unsettled = null;
    clearCardFields(); // the card leaves the page as soon as it is registered
    resetConsents(); // another card is another registration, agreed to again
    showSuccess(body, sent.plan);
    return;
  }
  if (answer.byWaf) {
    // Stopped at the edge before the API: nothing was registered, and a reload earns a new WAF token.
    state.unsettled = null;
    showMessage("error", messages.WAF_CHECK);
    moveFocus(result);
    return;
  }
  if (answer.status === 202) {
    state.unsettled = sent;
    showPending(sent);
    return;
  }
  // Still running, or unavailable, after the automatic retries: the outcome is unknown.
  state.unsettled = code === "REQUEST_IN_PROGRESS" || answer.status === 503 ? sent : null;
  const fieldErrors = Array.isArray(body.errors) ? body.errors : [];
  const isField = (error) => Object.hasOwn(inputs, error.field) || error.field === "plan_id";
  const ours = (error) => isObject(error) && typeof error.field === "string" && (isField(error) || isConsentError(error));
  const shown = []; // the elements named, in the form's order
  for (const error of fieldErrors.filter(ours).filter(isField)) {
    showFieldError(error.field, error.reason);
    shown.push(error.field === "plan_id" ? planOptions.querySelector("input") : inputs[error.field]);
  }
  const missing = fieldErrors.filter(ours).filter(isConsentError).flatMap(consentsNamedBy);
  if (missing.length) {
    state.consentsChecked = true;
    showConsentErrors(missing);
    shown.push(missing[0].checkbox);
  }
  if (shown.length && fieldErrors.every(ours)) {
    showMessage("error", messages.INVALID_INPUT);
    moveFocus(shown[0]);
    return;
  }
  let message = CODE_MESSAGES[code] || CODE_MESSAGES.INTERNAL_ERROR;
  if (code === "CARD_REJECTED") message = messages.detailsMismatch(body) || message;
  if (code === "TOO_MANY_ATTEMPTS" && answer.retryAfter) {
    message = `시도 횟수가 너무 많습니다. ${Math.max(1, Math.ceil(answer.retryAfter / 60))}분 후에 다시 시도해 주세요.`;
  }
  if (code === "UNAUTHORIZED") forgetToken();
  showMessage("error", message, body.request_id ? messages.requestIdText(body.request_id) : "");
  moveFocus(result);
}

// --- submitting ---

function payload(plan) {
  const body = {
    card_number: cards.cardDigits(inputs.card_number.value),
    expiry: cards.expiryFromCard(inputs.expiry.value),
    birth: cards.birthDigits(inputs.birth.value),
  };
  if (inputs.pwd_2digit.value !== "") body.pwd_2digit = inputs.pwd_2digit.value;
  if (plan) body.plan_id = plan.id;
  body.consents = { version: state.terms.version, items: tickedConsents().map(({ item }) => item.id) };
  return body;
}

async function submit() {
  if (state.inFlight || state.terms === null) return;
  state.submitted = true;
  state.consentsChecked = true;
  const invalid = checkAll();
  const missing = missingConsents();
  showConsentErrors(missing);
  if (invalid.length || missing.length) {
    showMessage("error", `${messages.INVALID_INPUT} (${invalid.length + missing.length}개 항목)`);
    moveFocus(invalid.length ? inputs[invalid[0]] : missing[0].checkbox);
    return;
  }
  const plan = selectedPlan();
  const body = JSON.stringify(payload(plan));
  const key = state.unsettled && state.unsettled.body === body ? state.unsettled.key : newIdempotencyKey();
  await send({ path: plan ? SCHEDULE_PATH : ISSUE_PATH, body, key, plan }, "카드를 등록하고 있습니다…");
}

/** Sends one submission with every control locked and focus on the status, then shows the answer. */
async function send(sent, progress) {
  showScreen(formScreen);
  showMessage("progress", progress);
  moveFocus(result); // before the lock: a control that is disabled while focused drops focus to the page
  setBusy(true); // before the first await: a second click finds everything disabled
  let answer = null;
  let newTerms;
  try {
    answer = await postOnce(sent.path, sent.body, sent.key);
    if (termsChanged(answer)) newTerms = await loadTerms();
  } catch {
    state.unsettled = sent; // it may have arrived: the same submission again reuses its key
  } finally {
    setBusy(false); // before the answer moves focus, which a disabled control cannot take
  }
  if (answer === null) {
    showMessage("error", messages.NETWORK_MESSAGE, NETWORK_DETAIL);
    moveFocus(result);
  } else if (newTerms !== undefined) {
    reviewNewTerms(newTerms);
  } else {
    handleAnswer(answer, sent);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});

Promise.all([loadTerms(), loadPlans()]).then(([terms, plans]) => {
  renderTerms(terms);
  renderPlans(plans);
  if (state.plans.length) setInterval(refreshPlans, PLANS_REFRESH_MS);
});
