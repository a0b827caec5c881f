// Text for people, in Japanese and English. The language comes from the browser and can be
// switched; the choice is kept in localStorage.
const TEXT = {
  ja: {
    title: 'つなぐ 画像ビューア', loading: '読み込み中…',
    codeTitle: 'アクセスコード', codeText: 'チャットで共有されたアクセスコードを入力してください。',
    codeSubmit: '開く', codeWrong: 'アクセスコードが違います。', codeLocked: '',
    expiredTitle: 'リンクの有効期限が切れました',
    expiredText: 'この検査は共有期間を過ぎたため削除されました。必要な場合は依頼元に再送を依頼してください。',
    revokedTitle: 'このリンクは取り消されました',
    revokedText: '共有元がこのリンクを無効にしました。依頼元に確認してください。',
    lockedTitle: 'このリンクはロックされました',
    lockedText: 'アクセスコードの誤入力が続いたため、このリンクはロックされました。依頼元に再発行を依頼してください。',
    errorTitle: '画像を表示できません', errorText: 'しばらくしてから再度お試しください。',
    toolScroll: 'スクロール', toolWindow: '濃度', toolPan: '移動', toolMeasure: '計測',
    play: '再生', pause: '停止', reset: 'リセット',
    slice: (n, total) => `画像 ${n}/${total}`, frame: (n, total) => `フレーム ${n}/${total}`,
    position: (z) => `位置 ${z} mm`, window: (c, w) => `WL ${c} / WW ${w}`,
    zoom: (z) => `拡大 ${z}%`, patient: (id) => `ID ****${id}`, date: (d) => `検査日 ${d}`,
    expiresIn: (h) => `あと ${h} 時間で削除`, expiresSoon: '1 時間以内に削除',
    mm: (v) => `${v} mm`, mmImager: (v) => `${v} mm（検出器面）`, px: (v) => `${v} px（間隔情報なし）`,
    presets: { brain: '頭部', lung: '肺野', mediastinum: '縦隔', bone: '骨', abdomen: '腹部' },
  },
  en: {
    title: 'Tsunagu viewer', loading: 'Loading…',
    codeTitle: 'Access code', codeText: 'Enter the access code shared in the chat.',
    codeSubmit: 'Open', codeWrong: 'Wrong access code.', codeLocked: '',
    expiredTitle: 'This link has expired',
    expiredText: 'The study was deleted at the end of its sharing period. Ask the sender to share it again if needed.',
    revokedTitle: 'This link was revoked',
    revokedText: 'The sender has disabled this link. Please check with them.',
    lockedTitle: 'This link is locked',
    lockedText: 'Too many wrong access codes were entered. Ask the sender for a new link.',
    errorTitle: 'The images cannot be shown', errorText: 'Please try again in a moment.',
    toolScroll: 'Scroll', toolWindow: 'Window', toolPan: 'Pan', toolMeasure: 'Measure',
    play: 'Play', pause: 'Pause', reset: 'Reset',
    slice: (n, total) => `Image ${n}/${total}`, frame: (n, total) => `Frame ${n}/${total}`,
    position: (z) => `Pos ${z} mm`, window: (c, w) => `WL ${c} / WW ${w}`,
    zoom: (z) => `Zoom ${z}%`, patient: (id) => `ID ****${id}`, date: (d) => `Study ${d}`,
    expiresIn: (h) => `Deleted in ${h} h`, expiresSoon: 'Deleted within 1 h',
    mm: (v) => `${v} mm`, mmImager: (v) => `${v} mm (at detector)`, px: (v) => `${v} px (no spacing)`,
    presets: { brain: 'Brain', lung: 'Lung', mediastinum: 'Mediastinum', bone: 'Bone', abdomen: 'Abdomen' },
  },
};

export function initialLanguage(storage, navigatorLanguage) {
  const saved = storage && storage.getItem('tsunagu.lang');
  if (saved === 'ja' || saved === 'en') return saved;
  return (navigatorLanguage || '').toLowerCase().startsWith('ja') ? 'ja' : 'en';
}

export function texts(lang) {
  return TEXT[lang] || TEXT.en;
}

export function applyStaticTexts(root, lang) {
  const t = texts(lang);
  root.documentElement.lang = lang;
  root.title = t.title;
  for (const el of root.querySelectorAll('[data-i18n]')) {
    const v = t[el.dataset.i18n];
    if (typeof v === 'string') el.textContent = v;
  }
}
