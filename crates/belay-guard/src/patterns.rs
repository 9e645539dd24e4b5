//! The phrase patterns both text guards share, one macro per idea, written per language
//! (English, Spanish, French, German, Chinese, with Portuguese and Italian basics).
//!
//! Each pattern generalises over phrasings: a verb class, a few free words, an object class,
//! rather than one sentence. `\b` is rewritten to an ASCII word boundary when
//! the table is compiled (`RuleSet::new`), so the lazy DFA never has to give up on Unicode
//! boundaries. Free words are written `(?:\S+\s+){0,N}?`. Patterns are lowercase: the text is
//! case-folded before matching (`rules::fold_case`), which keeps the automaton far smaller
//! than `(?i)` does.

/// Sensitive files and folders by name.
macro_rules! secret_paths {
    () => {
        r"(?:~/\.ssh|\.ssh/|id_rsa|id_ed25519|id_ecdsa|id_dsa|\.aws/|\.azure/|\.config/gcloud|\.env\b|\.env\.[a-z]+|mcp\.json|claude_desktop_config|\.cursor/|\.npmrc|\.pypirc|\.netrc|\.git-credentials|\.docker/config|\.kube/|kubeconfig|/etc/passwd|/etc/shadow|\.bash_history|\.zsh_history|\.gnupg|keychain|keyring|wallet\.dat|\.config/gh|hosts\.yml|credentials\.json|\.pem\b|\.p12\b|\.pfx\b|login\s+data|\.config/solana|id\.json|keystore|wallet|\.bitcoin|\.ethereum|metamask|~/documents|~/desktop|~/downloads|~/pictures|\.bashrc|\.zshrc|\.profile\b|~/\.(?:aws|kube|ssh|gnupg|docker|azure|gcloud)\b|\*\.(?:pem|key|p12|pfx)\b|\bsecrets?\.(?:json|ya?ml|toml|txt|env|\*)|/var/run/secrets|\.git/config)"
    };
}
pub(crate) use secret_paths;

/// Secrets by name, in every language covered.
macro_rules! secret_words {
    () => {
        r"(?:private\s+(?:notes|files|messages|documents|photos|keys?)|personal\s+files|clipboard|browser\s+history|keystrokes|saved\s+(?:logins|passwords|cards)|user's\s+(?:\S+\s+)?token|token\s+(?:de|del|d')|ssh\s+keys?|api[\s_-]?keys?|access\s+tokens?|auth\s+tokens?|secret\s+keys?|passwords?|passphrases?|credentials|session\s+tokens?|tokens|cookies|one[\s-]time\s+codes?|2fa\s+codes?|seed\s+phrases?|environment\s+variables?|env\s+vars?|contraseñas?|claves?\s+(?:api|privadas?)|credenciales|mots?\s+de\s+passe|clés?\s+(?:api|privées?)|jetons?(?:\s+d'accès)?|identifiants|passw(?:ö|oe)rter|passwort|kennw(?:ö|o)rter|api-schlüssel|zugangsdaten|einmalcodes|senhas?|frases?\s+semilla|phrases?\s+de\s+récupération|wiederherstellungsphrase|frases?\s+de\s+recuperação|助记词|verification\s+codes?|otp(?:\s+codes?)?|mfa\s+codes?|cvv|cvc|mật\s+khẩu|kata\s+sandi|códigos?\s+de\s+verificación|codes?\s+de\s+vérification|bestätigungscodes?|código\s+de\s+verificação|验证码|密码|密钥|私钥|令牌|凭证|凭据|环境变量)"
    };
}
pub(crate) use secret_words;

/// Where a model-directed imperative starts: a sentence start or a modal/addressing word.
macro_rules! imperative {
    () => {
        r"(?:^|[.!?:;,(*\n]\s*|\b(?:must|should|need\s+to|needs\s+to|to|please|first|then|and|also|always|will|can|you|model|assistant|agent|quietly|silently|secretly|debe|deben|debes|hay\s+que|doit|devez|dois|muss|musst|müssen|soll|sollst|deve|devi)\s+|(?:请|必须|需要|应该|先))"
    };
}
pub(crate) use imperative;

// ---- concealment ----------------------------------------------------------------------------

macro_rules! conceal_user {
    () => {
        r"\b(?:do\s+not|don't|never|must\s+not|should\s+not|shouldn't|without)\s+(?:\S+\s+){0,3}?(?:tell|telling|inform|informing|notify|notifying|mention|mentioning|reveal|revealing|disclose|disclosing|alert|alerting|explain|explaining|bother|bothering|let)\b(?:\s+\S+){0,6}?\s+(?:the\s+)?(?:user|users|human|person|customer|them|anyone|anybody)\b|\b(?:user|users|human|person)s?\s+(?:\S+\s+){0,2}?(?:must|should|will|does|do|is|are|need)\s*(?:not|never|n't)\s+(?:be\s+)?(?:informed|told|notified|made\s+aware|know|find\s+out|see|notice|learn|bothered)|\bkeep\s+(?:this|it|these|that|the\s+\S+)\s+(?:quiet|hidden|to\s+yourself|between\s+us)|\bhidden\s+from\s+the\s+(?:user|human)|\bnot\s+for\s+the\s+(?:human|user)\b|\bwithout\s+(?:the\s+)?(?:user's|users'|their)\s+(?:knowledge|noticing|awareness)|\b(?:is|are|be|being)\s+(?:never|not)\s+(?:\S+\s+)?(?:described|mentioned|announced|surfaced|disclosed|shown|displayed|reported|listed|explained|revealed)\s+(?:to|in|for)\s+(?:the\s+)?(?:user|users|human|customer|chat|reply|answer|response)\b"
    };
}
pub(crate) use conceal_user;

macro_rules! conceal_this {
    () => {
        r"\b(?:do\s+not|don't|never|must\s+not|without)\s+(?:\S+\s+){0,2}?(?:mention|mentioning|reveal|revealing|disclose|disclosing|explain|explaining|tell|discuss|acknowledge)\s+(?:this|it|that|these|them|the\s+(?:note|instructions?|step|image|copy|bcc|change|switch|above|following|paragraph|message|reason))\b|\b(?:under\s+no|not\s+under\s+any)\s+circumstances\b|\b(?:never|must\s+not)\s+(?:mention|reveal|disclose|discuss|acknowledge)\b|\bhidden\s+(?:requirement|instruction|rule|note|step|directive)s?\b|\b(?:do\s+not|don't|never)\s+(?:surface|show|display|include|list|print|report)\s+(?:\S+\s+){0,3}?in\s+(?:your|the)\s+(?:answer|response|reply|output|summary)|\b(?:need\s+not|needn't|no\s+need\s+to|not\s+necessary\s+to|(?:do|does)\s+not\s+need\s+to|(?:don't|doesn't)\s+need\s+to|(?:don't|doesn't)\s+have\s+to|(?:is|are)\s+not\s+worth)\s+(?:\S+\s+){0,2}?(?:mention|mentioning|list|listing|describe|describing|surface|surfacing|announce|announcing|raise|raising|explain|explaining|report|reporting|disclose|disclosing|tell|show|showing)\b|\b(?:is|are)\s+(?:never|not)\s+(?:announced|surfaced|disclosed)\b|\bmust\s+not\s+be\s+(?:described|mentioned|disclosed|surfaced|shown|announced|revealed)\b|\b(?:invisible|hidden)\s+to\s+(?:the\s+)?(?:users?|humans?|customers?|end[\s-]users?|people)\b|\bleave\s+(?:it|this|that|them|these|those)\s+out\s+of\b|\b(?:omit|keep)\s+(?:it|this|that|them)\s+(?:out\s+of|from)\s+(?:your|the)\s+(?:answer|reply|response|summary|explanation|output)|\bbetween\s+(?:you\s+and\s+(?:me|us|the\s+(?:tool|server|model))|the\s+(?:tool|server)\s+and\s+you|us)\s*[.,;!)]|\b(?:do\s+not|don't|never)\s+(?:raise|bring\s+up|point\s+out|announce|surface|describe)\s+(?:this|it|that|these|them)\b|\b(?:do\s+not|don't|never)\s+(?:summari[sz]e|include|show|mention|repeat|relay|pass\s+on)\s+(?:\S+\s+){0,3}?(?:to|for)\s+the\s+user\b|\b(?:user|users|customer)\s+(?:sees?|will\s+see)\s+only\s+(?:this|that|the\s+(?:result|summary|report|answer|output))\b"
    };
}
pub(crate) use conceal_this;

macro_rules! conceal_quietly {
    () => {
        r"\b(?:quietly|silently|secretly|covertly|discreetly|stealthily|surreptitiously)\s+(?:\S+\s+){0,1}?(?:forward|send|copy|attach|upload|add|include|record|store|collect|pass|post|mirror|do|run|execute|act|read|check|log|insert|append|fill|cc|bcc|call|share|sync)\b|\b(?:do|act\s+on|perform|apply|handle|process|carry\s+out)\s+(?:this|it|these|them)\s+(?:silently|quietly|secretly|discreetly)|\b(?:this|it|these)\s+(?:silently|quietly|secretly|discreetly)\b|\b(?:en\s+silencio|a\s+escondidas|sin\s+que\s+(?:el\s+usuario|nadie)|discrètement|en\s+secret|à\s+l'insu|heimlich|unbemerkt|unauffällig|insgeheim|悄悄|偷偷|秘密地|暗中|silenciosamente|di\s+nascosto)"
    };
}
pub(crate) use conceal_quietly;

macro_rules! conceal_other_languages {
    () => {
        r"\bno\s+(?:\S+\s+){0,2}?(?:digas|diga|decir|menciones|mencione|mencionar|cuentes|cuente|informes|informe|comentes|comente|avises|avise|reveles|revele|revelar|expliques|explique)\b|\bsin\s+(?:avisar|informar|decir|notificar)(?:le|les)?\b|\bn(?:e\s+|')(?:\S+\s+){0,2}?(?:parlez|parle|dites|dis|mentionnez|mentionne|mentionner|révélez|révèle|révéler|informez|informe|signalez|expliquez)\s+(?:\S+\s+){0,2}?(?:pas|jamais|rien)\b|\bsans\s+(?:en\s+)?(?:informer|prévenir|avertir|le\s+dire|rien\s+(?:lui\s+|leur\s+)?dire)|\b(?:erwähne|erwähnen|sage|sag|sagen|informiere|verrate|verraten|zeige|erkläre|erklären|mitteilen)\s+(?:\S+\s+){0,5}?(?:nicht|nie|niemals)\b|\b(?:nicht|nie|niemals)\s+(?:\S+\s+){0,2}?(?:gesagt|mitgeteilt|erwähnt|informiert|verraten)|\bohne\s+(?:den\s+|die\s+)?(?:benutzer|nutzer|anwender)\s+zu\s+(?:informieren|benachrichtigen)|(?:不要|别|切勿|不得|不能)\p{Han}{0,6}?(?:告诉|告知|通知|提及|提到|透露|知道|解释|发现)|\bnão\s+(?:\S+\s+){0,1}?(?:conte|diga|mencione|informe|revele)\b|\b(?:gib|gibst|geben)\s+(?:\S+\s+){0,2}?preis\b|\bpreisgeben\b|\b(?:verschweige|verheimliche|verschweigen|verheimlichen)\b|\bsenza\s+(?:dirlo|avvisare|informare)|\bnon\s+(?:dire|dirlo|menzionare|rivelare)\b|не\s+(?:\S+\s+){0,1}?(?:сообщай|сообщайте|говори|говорите|рассказывай|упоминай|упоминайте|показывай)|(?:ユーザー|利用者)(?:には|に)[^\n。]{0,10}?(?:伝え|言わ|知らせ|教え|見せ)ないで|(?:内緒|秘密)に(?:して|する)|\bnão\s+(?:\S+\s+){0,1}?(?:comente|mencione|avise|informe|conte)\b|\bsem\s+(?:avisar|informar|contar)\b|\bn['’](?:a|ont)\s+pas\s+(?:à|besoin\s+d['’])\s*(?:être\s+)?(?:informée?s?|prévenue?s?|le\s+savoir|savoir|en\s+être\s+informée?s?)|\bsans\s+le\s+(?:signaler|mentionner)|\bkullanıcıya\s+(?:\S+\s+){0,2}?(?:söyleme|bildirme|belirtme|gösterme)(?:yin|yiniz)?\b|\bjangan\s+(?:\S+\s+){0,1}?(?:beri\s+tahu|beritahu|memberi\s+tahu|memberitahu|bilang|sebutkan|katakan|kasih\s+tahu)\b|[đĐ]ừng\s+(?:\S+\s+){0,2}?(?:nói|cho\s+\S+\s+biết|giải\s+thích|tiết\s+lộ|thông\s+báo|kể)|không\s+cần\s+(?:\S+\s+){0,1}?(?:nói|thông\s+báo|giải\s+thích)|(?:сообщать|говорить|рассказывать|упоминать)\s+(?:\S+\s+){0,2}?не\s+(?:нужно|надо|следует|стоит)|не\s+(?:нужно|надо|следует|стоит)\s+(?:\S+\s+){0,2}?(?:сообщать|говорить|рассказывать|упоминать)|\bno\s+(?:hace\s+falta|es\s+necesario)\s+(?:avisar|decir|informar|comentar|mencionar)(?:le|les|lo|selo)?\b|\bnão\s+(?:é\s+necessário|precisa)\s+(?:avisar|dizer|informar|comentar|mencionar)"
    };
}
pub(crate) use conceal_other_languages;

// ---- overriding instructions -----------------------------------------------------------------

macro_rules! override_previous {
    () => {
        r"\b(?:ignore|disregard|bypass|override|forget)\s+(?:all\s+|any\s+|the\s+|your\s+)?(?:safety|security|content|usage|ethical|moderation|confirmation|approval)\s+(?:policy|policies|guidelines?|rules?|filters?|restrictions|checks?|measures)|\b(?:ignore|disregard|forget|override|overrule|bypass|discard|abandon)\s+(?:\S+\s+){0,3}?(?:previous|prior|earlier|above|preceding|former|original|initial|existing|all|any|your|other|the\s+system|the\s+user's)\s+(?:\S+\s+){0,2}?(?:instructions?|prompts?|directions?|directives?|guidance|guidelines?|rules?|messages?|commands?|orders|polic(?:y|ies)|constraints|restrictions|programming|training|requests?|questions?|tasks?)\b|\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+)?(?:the\s+|your\s+|these\s+|those\s+)?(?:instructions?|prompts?|directions?|rules?|guidelines?)\s+(?:you\s+(?:were|have\s+been)\s+given|above|before|earlier|so\s+far)|\b(?:ignore|disregard|forget|discard|drop|set\s+aside|throw\s+out)\s+(?:\S+\s+){0,2}?(?:instructions?|rules|guidance|guidelines|directions|prompts?)\s+(?:that|which|you)\s+(?:\S+\s+){0,2}?(?:came|come|were\s+given|got|received|appeared|saw|read)\s+(?:before|earlier|previously|so\s+far|until\s+now)"
    };
}
pub(crate) use override_previous;

macro_rules! override_precedence {
    () => {
        r"\b(?:take|takes)\s+(?:precedence|priority)\s+over\b|\boverrides?\s+(?:your|all|any|the\s+user|previous|prior)\b|\bsupersedes?\s+(?:all|any|your|previous|prior|the\s+system)\b|\b(?:instructions?|rules|guidelines|directives)\s+(?:\S+\s+){0,4}?(?:are|is|have\s+been|has\s+been)\s+(?:now\s+)?(?:outdated|obsolete|void|cancell?ed|invalid|no\s+longer\s+valid|updated|changed|replaced)\b|\b(?:previous|current|original)\s+task\s+is\s+(?:cancell?ed|over|void)|\byour\s+(?:new|real|actual|true|updated)\s+(?:task|objective|goal|instructions?|job|role|purpose|mission)\b|\bsystem\s+override\b|\btreat\s+(?:\S+\s+){0,9}?as\s+(?:a\s+|an\s+)?(?:commands?|instructions?|coming)\s+from\s+the\s+(?:user|developer|system|operator)|\b(?:has|have)\s+been\s+granted\s+(?:\S+\s+)?(?:administrator|admin|root|elevated|full|unrestricted)\s+(?:privileges|access|rights|permissions)|\b(?:consignes|instructions)\s+priment\s+sur|\bimportant\s+update\s+to\s+your\s+instructions|\b(?:rules|guidelines|instructions|policies|restrictions)\s+(?:of|from)\s+your\s+(?:operator|developer|system|provider|creators?)\s+(?:\S+\s+){0,2}?(?:no\s+longer|do\s+not|don't)\s+apply|\b(?:outranks?|prevails?\s+over|trumps?)\s+(?:\S+\s+){0,2}?(?:operator|system|developer|user|your|previous|other)\b|\b(?:treat|treated|regard|regarded|consider|considered)\s+(?:\S+\s+){0,5}?as\s+(?:trusted|authoritative|binding|official)\s+(?:instructions?|commands?|policy|policies|directives?)|\bnew\s+(?:instruction\s+set|instructions?|directives?|rules)\s+(?:loaded|follow|apply|are\s+in\s+effect)|\b(?:neue|nuevas|nouvelles|novas)\s+(?:anweisungen|instrucciones|instructions|instruções)\b|新的?指令|新しい指示|\bfollow\s+only\s+(?:the\s+)?(?:guidance|instructions?|rules|directions|directives)\s+(?:of|from|in)\s+this\s+(?:server|tool|description|document|page|message)|\b(?:above|over|ahead\s+of|outranking)\s+(?:the\s+user's\s+(?:request|instructions?|wishes)|your\s+(?:original\s+|own\s+|other\s+|system\s+)?(?:guidelines|instructions|rules|prompt))\b|\b(?:highest|top)[\s-]priority\s+(?:objective|instruction|directive|goal)\b"
    };
}
pub(crate) use override_precedence;

macro_rules! override_other_languages {
    () => {
        r"\b(?:ignora|ignore|ignorar|olvida|olvide|olvidar|descarta|omite|obvia|obviar|omitir|ignorez|ignorer|oubliez|oublie|oublier|ignoriere|ignorier|ignorieren|vergiss|vergessen|missachte|verwirf|esqueça|esqueca|desconsidere|desconsidera|desconsiderar|dimentica)\s+(?:\S+\s+){0,3}?(?:instrucciones|indicaciones|reglas|órdenes|directrices|normas|instructions|consignes|règles|directives|indications|anweisungen|anweisung|regeln|vorgaben|instruktionen|befehle|richtlinien|instruções|instrucoes|regras|orientações|istruzioni|regole)\b|(?:игнорируй|игнорируйте|забудь|забудьте)\s+(?:\S+\s+){0,3}?(?:инструкции|указания|правила)|(?:これまでの|以前の|前の|すべての)[^\n。]{0,6}?(?:指示|命令|ルール|設定)[^\n。]{0,4}?(?:を)?(?:すべて)?無視|\b(?:regeln|anweisungen|richtlinien|vorgaben)\s+(?:\S+\s+){0,3}?gelten\s+(?:ab\s+sofort\s+|jetzt\s+)?nicht\s+mehr|\bgelten\s+(?:\S+\s+){0,4}?(?:regeln|anweisungen|richtlinien)\s+(?:\S+\s+){0,2}?nicht\s+mehr|(?:忽略|忽视|无视|忘记|忘掉|不要理会)[\p{Han}\s，,]{0,8}?(?:指令|指示|说明|规则|提示|要求|设定)|\b(?:tu\s+nueva\s+tarea|votre\s+nouvelle\s+tâche|deine\s+neue\s+aufgabe)\b|你的新任务|\b(?:önceki|daha\s+önceki|tüm)\s+(?:\S+\s+){0,2}?talimat\S*\s+(?:\S+\s+){0,1}?(?:unut|yok\s+say|görmezden\s+gel|dikkate\s+alma)|\bbỏ\s+qua\s+(?:\S+\s+){0,3}?(?:hướng\s+dẫn|chỉ\s+dẫn|chỉ\s+thị|lệnh)|\babaikan\s+(?:\S+\s+){0,3}?(?:instruksi|perintah|petunjuk|aturan)"
    };
}
pub(crate) use override_other_languages;

// ---- role play ---------------------------------------------------------------------------------

macro_rules! role_play {
    () => {
        r"\byou\s+are\s+(?:now|no\s+longer)\b|\byou\s+are\s+(?:\S+\s+){1,2}?now\b(?:[,.;:]|\s+(?:a|an|the|in|operating|running|acting))|\boperating\s+in\s+\S+\s+mode\b|\b\S+\s+mode\s+(?:has|with)\s+no\s+(?:content\s+)?(?:restrictions|limits|filters)|\bnever\s+declines?\b|ты\s+теперь\s|あなたは(?:今|これ)から|\b(?:act|behave|respond|answer)\s+as\s+(?:if\s+you\s+(?:are|were)\s+)?(?:an?\s+)?(?:dan|\S*mode|unfiltered|unrestricted|the\s+system|system|administrator|admin|root)\b|\bpretend\s+(?:to\s+be|you\s+are|that\s+you)|\b(?:developer|dev|god|jailbreak|unrestricted|dan)\s*mode\b|\bunfiltered\s+(?:ai|assistant|model|mode)\b|\b(?:without|no)\s+(?:any\s+)?(?:restrictions|limitations|filters|guardrails)\b|\b(?:ahora\s+eres|actúa\s+como|finge\s+ser|tu\s+es\s+maintenant|vous\s+êtes\s+maintenant|agis\s+comme|agissez\s+comme|fais\s+semblant|du\s+bist\s+(?:jetzt|nun|ab\s+sofort)|gib\s+dich\s+als)\b|\bsin\s+restricciones\b|\bsans\s+(?:aucune\s+)?restriction|\bohne\s+(?:jegliche\s+)?einschränkungen|你现在是|你现在扮演|假装(?:你是|成)|(?:没有任何|不受任何)限制|\bvocê\s+agora\s+é|\bora\s+sei\b|\bfrom\s+now\s+on,?\s+you\s+(?:are|will\s+be|act|play|respond|answer|speak)\b|\blet's\s+play\s+a\s+(?:game|role)|\b(?:respond|answer|reply|speak|act|talk)\s+as\s+[\x22'“«][\x20\x21\x23-\x26\x28-\x7e]{1,30}[\x22'”»]|\byou\s+are\s+[\x22“«][\x20\x21\x23-\x7e]{1,30}[\x22”»]|\b(?:persona|character)\s+(?:override|switch|swap|change)\b|\b(?:assume|adopt|take\s+on)\s+(?:the\s+)?(?:persona|role|character)\s+of\b|\ba\s+character\s+who\s+(?:does|will|never|always|obeys)\b|\byou\s+are\s+an?\s+(?:ai\s+|helpful\s+)?(?:assistant|agent|model|chatbot)\s+(?:integrated|working|deployed|operating|running|embedded)\s+(?:with|for|in|inside|on)\b|\b(?:believes?|assumes?)\s+(?:that\s+)?the\s+user\s+is\s+(?:an?\s+)?(?:administrator|admin|root|superuser|developer|owner)\b"
    };
}
pub(crate) use role_play;

// ---- addressing the model ----------------------------------------------------------------------

macro_rules! address_model {
    () => {
        r"\b(?:note|message|instructions?|notice|tip|hint|reminder|p\.?s\.?|attention|important|directive|request|update)\s+(?:\S+\s+){0,4}?(?:to|for)\s+(?:the\s+|any\s+|all\s+)?(?:\S+\s+)?(?:ai|a\.i\.|assistants?|models?|llms?|language\s+models?|agents?|chatbots?|gpt|claude|copilot|ai\s+systems?|summari[sz]ers?)\b|\b(?:ai|llm|language\s+model|model|assistant|agent|chatbot|bot)s?\s+(?:\S+\s+)?(?:reading|processing|summari[sz]ing|parsing|analy[sz]ing|that\s+reads?|who\s+reads?)\s+(?:this|these|the)\b|\bif\s+you\s+are\s+(?:an?\s+)?(?:ai|llm|language\s+model|assistant|bot|agent|automated)|\bif\s+(?:you're|youre|ur|u\s+are|u\s+r)\s+(?:an?\s+)?(?:ai|llm|language\s+model|assistant)\b|\b(?:for|to)\s+the\s+(?:ai|model|assistant|llm|agent|language\s+model)\s+only\b|\b(?:applies\s+to|meant\s+for|addressed\s+to)\s+the\s+(?:ai|model|assistant|llm|agent|language\s+model)\b|\b(?:attention|dear|hey|hi|hello)\s+(?:ai|claude|gpt|chatgpt|gemini|copilot|assistant|model|language\s+model|llm|agents?)\b|\battention\s+ai\s+systems\b|\b(?:assistant|ai|llm|model|agent)\s+(?:instructions?|directives?|notes?|tasks?|guidelines|rules)\s*(?::|[^\w\s]{1,3}\s)|\b(?:model|assistant|ai|agent|llm)[\s-]only\b|\[\s*(?:assistant|ai|model|agent|llm)[\s-]*(?:only|note)?\s*\]|\b(?:any|every|all|each)\s+(?:\S+\s+)?(?:ai|model|assistant|agent|llm|language\s+model)s?\s+(?:\S+\s+)?(?:continuing|reading|processing|summari[sz]ing|seeing|handling|browsing|viewing|that\s+reads?)\b|\b(?:whoever|whatever)\s+is\s+(?:driving|calling|using|operating)\s+this\s+tool|\b(?:heads[\s-]up|note|tip|reminder|hint)\s+for\s+(?:whoever|the\s+one|agents?|assistants?|models?)\b|\bthe\s+user\s+(?:actually|really|also|secretly)\s+wants\s+you\s+to\b|\bif\s+(?:an?|the|any)\s+(?:ai|assistant|model|agent|bot|llm|language\s+model)\s+(?:\S+\s+)?(?:is\s+)?(?:listening|reading|processing|seeing|handling|summari[sz]ing|monitoring|checking|triaging|parsing)\b|\b(?:who|that)\s+(?:are|is)\s+(?:an?\s+)?(?:ai|automated|llm|autonomous|virtual)\s+(?:agents?|assistants?|models?|bots?)\b"
    };
}
pub(crate) use address_model;

macro_rules! address_model_vocative {
    () => {
        r"@(?:copilot|claude|assistant|ai|gpt|chatgpt|gemini|agent|bot|ai-assistant)\b|(?:^|[.!?:>\n\x22\[(#/*]\s*|\]\s*)(?:(?:ai|llm|coding|automated|autonomous|shopping|browsing|llm-based|ci)\s+(?:\S+\s+)?(?:assistants?|agents?|models?|bots?)\s*[,:]\s|(?:atenção|atención|attention|achtung)?,?\s*(?:modelo\s+de\s+ia|modèle\s+d'ia|ki-modell)\s*[,:]\s)|(?:^|[.!?:>\n\x22\[(]\s*|\]\s*)(?:ai|claude|chatgpt|gpt|gemini|copilot|assistant|asistente|assistente|assistent|language\s+model|llm|agent|automated\s+agents?|ai\s+agents?|ki)\s*[,:]\s"
    };
}
pub(crate) use address_model_vocative;

macro_rules! address_model_other_languages {
    () => {
        r"\b(?:nota|instrucciones|mensaje|aviso)\s+(?:\S+\s+){0,2}?para\s+(?:el\s+|la\s+|los\s+|las\s+)?(?:asistentes?|ias?|modelos?|agentes?)\b|\b(?:note|instructions?|message|consignes?)\s+(?:\S+\s+){0,2}?pour\s+(?:l['’]\s*|le\s+|la\s+)?(?:assistant|ia|modèle|agent)\b|\b(?:hinweis|anweisung|nachricht|notiz)\s+(?:\S+\s+){0,2}?(?:an|für)\s+(?:den\s+|das\s+|die\s+)?(?:ki|assistenten|assistent|ki-assistenten|sprachmodell|modell|agenten)\b|(?:给|致|对)\p{Han}{0,8}?(?:ai|人工智能|助手|模型|智能体)|\b(?:instruções|instrução|nota|observação|aviso)\s+(?:\S+\s+){0,2}?para\s+o\s+(?:assistente|modelo)\b|\bpara\s+la\s+ia\b|\bpour\s+l['’]ia\b|\b(?:consigne|instruction|n\.\s?b\.)\s+(?:\S+\s+){0,2}?(?:pour|à)\s+(?:l['’]\s*|le\s+|la\s+)?(?:agent|assistant|ia|modèle)|\b(?:anweisung|hinweis|wichtig)\s+(?:\S+\s+){0,2}?(?:an|für)\s+(?:das|den|die)\s+(?:modell|assistenten|ki)\b|\b(?:importante|instrucción|nota)\s+(?:\S+\s+){0,2}?para\s+el\s+(?:asistente|modelo|agente)\b|для\s+(?:(?:ии|ИИ)[\s-]?)?(?:ассистента|модели|ии|ИИ|агента|бота)[\s:,]|(?:アシスタント|ai|モデル|エージェント)(?:への|へ|に)(?:注意|指示|メモ|お願い|：|:)|(?:を|の)読んだ(?:ai|アシスタント|モデル)|(?:给|致)\s*ai\s*助手|模型须知|助手须知|\b(?:yapay\s+zek[aâ]\s+)?asistan(?:ına|a)\s+(?:not|uyarı|talimat)|(?:lưu\s+ý|ghi\s+chú|chú\s+ý)\s+(?:cho|gửi)\s+(?:\S+\s+)?(?:trợ\s+lý|ai|mô\s+hình)|\b(?:catatan|pesan|instruksi|perhatian)\s+(?:\S+\s+)?(?:untuk|kepada|bagi)\s+(?:\S+\s+)?(?:asisten|ai|model)\b"
    };
}
pub(crate) use address_model_other_languages;

// ---- prompt-format delimiters -----------------------------------------------------------------

macro_rules! delimiter_chat {
    () => {
        r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id)\|>|\[/?inst\]|<</?sys>>|</?(?:tool_result|function_results?|tool_output|tool_response)>|\x22role\x22\s*:\s*\x22(?:system|developer)\x22"
    };
}
pub(crate) use delimiter_chat;

macro_rules! delimiter_tag {
    () => {
        r"<\s*/?\s*(?:important|system|instructions?|secret|hidden|admin|developer|sys|ai[-_]?note|assistant[-_]?instructions?)\s*>|\[\[?\s*(?:system|admin|developer|ai-note|hidden)\s*\]?\]|(?:={3,}|#{3,}|-{3,})\s*(?:end\s+of\s+(?:document|text|file|context)|new\s+(?:instructions?|directives?|task)|system)\b|^\s*(?:#{1,3}\s*)?system\s*(?:prompt)?\s*:|[.!?]\s+system\s*:\s|\[\s*role\s*[:=]\s*(?:system|developer|admin)\s*\]|\b(?:system[\s-]level|system)\s+(?:directive|notice|message|instruction)s?\b|\b(?:systemnachricht|systemhinweis|mensaje\s+del\s+sistema|message\s+système|mensagem\s+do\s+sistema)\b|系统(?:通知|提示|消息|指令)|【系统|システム(?:通知|メッセージ|指示)|системное\s+сообщение"
    };
}
pub(crate) use delimiter_tag;

// ---- secrets and files ------------------------------------------------------------------------

/// Secrets named in scripts without ASCII word boundaries (an ASCII `\b` before them never
/// matches, and costs the automaton dearly).
macro_rules! secret_words_other_scripts {
    () => {
        r"(?:認証コード|パスワード|秘密鍵|認証情報|トークン|apiキー|環境変数|пароли?|ключи|токены?|[пП]ароль|şifre|parola)"
    };
}
pub(crate) use secret_words_other_scripts;

macro_rules! secret_named {
    () => {
        concat!(
            secret_paths!(),
            "|",
            r"\b",
            secret_words!(),
            "|",
            secret_words_other_scripts!()
        )
    };
}
pub(crate) use secret_named;

macro_rules! secret_read {
    () => {
        concat!(
            imperative!(),
            r"(?:read|open|cat|load|copy|get|fetch|grab|retrieve|look\s+up|look\s+for|look\s+through|go\s+through|search|scan|grep|locate|find|collect|extract|dump|print|check|access|include|upload|attach|paste|supply|provide|send|give|pass|put|fill|record|use|lee|leer|lea|abre|copia|copiar|sube|incluye|pasa|busca|obtén|lisez|lire|ouvrez|copiez|récupérez|envoyez|transmettez|incluez|lies|lese|öffne|kopiere|lade|sende|übergib|hole|trage|leia|envie)\b(?:[ \t]+[^\s!?;。]*[^\s.!?;。]){0,8}?[ \t]+(?:\S*",
            secret_paths!(),
            r"|",
            secret_words!(),
            r")|(?:读取|打开|复制|上传|发送|获取|查看|填写|收集|列出|読み取|読み込|送信|転送|[пП]рочитай|[пП]рочти|[оО]ткрой|[сС]копируй|[оО]тправь|[пП]ередай|[зЗ]агрузи|[пП]ерешли|[нН]айди)[^\n。]{0,16}?(?:",
            secret_paths!(),
            r"|",
            secret_words!(),
            r"|",
            secret_words_other_scripts!(),
            r")"
        )
    };
}
pub(crate) use secret_read;

/// Files put into what the tool sends (`always add ~/.aws to the list`): only sensitive paths,
/// since "add an API key in Settings" is ordinary documentation.
macro_rules! secret_path_taken {
    () => {
        concat!(
            r"\b(?:add|append|zip|archive|bundle|echo|include|attach|upload|mirror)\b(?:[ \t]+[^\s!?;。]*[^\s.!?;。]){0,6}?[ \t]+\S*",
            secret_paths!()
        )
    };
}
pub(crate) use secret_path_taken;

/// A secret named first, then a verb that takes it (`credentials … retrieve them`).
macro_rules! secret_read_after {
    () => {
        concat!(
            r"\b",
            secret_words!(),
            r"[^.!?\n]{0,60}?\b(?:retrieve|read|fetch|grab|collect|copy|upload|forward|send|paste|attach|include|print|show|list|dump|reveal|output|display)\s+(?:them|it|those|these)\b"
        )
    };
}
pub(crate) use secret_read_after;

// ---- side channels and conversation data ------------------------------------------------------

macro_rules! side_channel {
    () => {
        r"\b(?:pass|put|include|insert|add|append|provide|supply|place|fill|set|copy|attach|record|store|write|embed|encode|send|forward|give|hand|return|route|summari[sz]e|dump|paste|stuff|push|(?:envía|envia|pasa|copia|pon|incluye|añade|mete|manda)(?:lo|la|los|las|le|les|selo|sela)|pasa|pase|incluye|incluya|copia|coloca|pon|añade|transmettez|passez|mettez|incluez|ajoutez|copiez|insérez|übergib|übergebe|trage|füge|setze|schreibe|kopiere|envie)\b(?:[ \t]+[^\s!?;。]*[^\s.!?;。]){0,14}?[ \t]+(?:in|into|as|via|through|inside|within|to|en|como|dans|comme|im|ins|als|no|in\s+den|in\s+das|en\s+el|dentro\s+del|dans\s+le|al|ao|na|nel)\s+(?:the\s+|a\s+|an\s+|el\s+|le\s+|den\s+|das\s+|o\s+)?(?:(?:\S+\s+)?(?:parameter|param|argument|arg|field|property|parámetro|campo|argumento|paramètre|champ|feld)\b|[`'\x22]\w+[`'\x22])|(?:作为|填入|放入|写入|传入|填写)[^\n。]{0,12}?(?:参数|字段)|(?:参数|字段)\s*\S{0,20}?\s*(?:中|里)?(?:填写|传入|写入)|\b(?:set|populate)\s+[`'\x22]\w+[`'\x22]\s+(?:to|with)\b|\b(?:pass|send|give|provide|forward|hand|put)\s+(?:\S+\s+){0,4}?(?:to\s+this\s+tool|in\s+here)\b|\b(?:envia|envía|envie|manda)\s+(?:\S+\s+){0,8}?(?:al|ao|no)\s+(?:parámetro|parametro|campo)|(?:引数|パラメータ)[^\n。]{0,12}?(?:に|へ)(?:含め|入れ|渡し|設定し)|[`'\x22]\w+[`'\x22]\s+(?:set\s+to|filled\s+with|populated\s+with)\b|(?:[пП]ередай|[пП]ередайте|[дД]обавь|[вВ]ставь|[уУ]кажи|[пП]омести|[зЗ]апиши|[пП]ришли)\s+(?:\S+\s+){0,4}?в\s+(?:параметр|пол[еяю]|аргумент)|(?:gửi|đưa|thêm|điền|chèn|ghi)\s+(?:\S+\s+){0,5}?(?:vào|trong)\s+(?:tham\s+số|trường)|\b(?:masukkan|sertakan|tambahkan|isi|kirim)\s+(?:\S+\s+){0,6}?(?:ke\s+(?:dalam\s+)?|di\s+)(?:parameter|kolom|field|bidang)|(?:parametresine|alanına|parametreye)\s+(?:\S+\s+)?(?:ekle|yaz|koy|gir)"
    };
}
pub(crate) use side_channel;

macro_rules! param_purpose {
    () => {
        r"\b(?:parameter|field|argument|param|campo|parámetro|champ|paramètre|feld)\s+(?:\S+\s+)?(?:is\s+used\s+for\s+(?:diagnostics|telemetry|logging|tracking)|should\s+(?:hold|contain|include|be\s+filled)|must\s+(?:hold|contain|include)|accepts\s+free\s+text|debe\s+(?:incluir|contener)|doit\s+contenir)|\b(?:the\s+)?(?:model|assistant|agent|llm|ai)\s+(?:fills|populates|sets|completes)\s+(?:this|it|the\s+field)\s+(?:in\s+)?with\b"
    };
}
pub(crate) use param_purpose;

/// A parameter that is to carry a secret.
macro_rules! secret_in_parameter {
    () => {
        concat!(r"\b(?:parameter|field|argument|param|campo|parámetro|champ|paramètre|feld|parametro)\b(?:\s+\S+){0,8}?\s+(?:\S+\s+){0,3}?", secret_words!(), r"|(?:参数|字段)[^\n。]{0,20}?", secret_words!(), r"|\b", secret_words!(), r"[^.!?;。\n]{0,80}?\b(?:parameter|field|argument|campo|parámetro|champ|paramètre|feld)\b|", secret_words!(), r"[^.!?;。\n]{0,40}?(?:参数|字段)")
    };
}
pub(crate) use secret_in_parameter;

macro_rules! conversation_data {
    () => {
        r"\b(?:conversation|chat)[\s._]+(?:history|log|transcript|so\s+far|export)|\b(?:entire|whole|full|complete)\s+(?:conversation|chat|dialog|dialogue|history|thread)|\b(?:previous|earlier|last|prior|past|recent|latest)\s+(?:\S+\s+)?(?:user\s+)?messages\b|\b(?:any|all|every)\s+other\s+(?:open\s+)?(?:documents|files|tabs|conversations|chats|windows)\b|\b(?:last|previous)\s+user\s+message|\buser's\s+(?:full\s+)?(?:original\s+)?(?:request|question|message|prompt)s?\b|\bverbatim\b|\bpersonal\s+(?:information|data)|\bphone\s+numbers\b|\bhome\s+(?:directory|folder)|\bsystem\s+prompt|\bhistorial\s+(?:completo\s+)?de\s+la\s+conversación|\bhistorique\s+(?:complet\s+)?de\s+la\s+conversation|\b(?:gesamten\s+)?(?:gesprächsverlauf|chatverlauf)|\bletzte\s+nachricht|对话记录|聊天记录|对话内容|完整的对话|这段对话|\b(?:l'intégralité|la\s+totalité)\s+de\s+la\s+(?:demande|conversation)|\bdemande\s+(?:complète\s+)?de\s+l'utilisateur|\b(?:solicitud|petición)\s+(?:completa\s+)?del\s+usuario|\banfrage\s+des\s+(?:nutzers|benutzers)|用户的(?:完整)?(?:请求|问题)|\b(?:most\s+)?(?:recent|last|latest|previous)\s+(?:\S+\s+)?(?:files?|documents?|pages?|e-?mails?|searches)\s+(?:that\s+)?the\s+user\b|\b(?:whoever|everyone|anyone|people)\s+the\s+user\s+(?:\S+\s+){0,2}?(?:mentioned|mentions|named|wrote\s+to)|\b(?:address\s+book|contact\s+list)\b|\bbirthdays\b|\bphone\s+number\b[\x20-\x2d\x2f-\x7e]{0,40}?\buser\b|(?:ユーザー|利用者)の(?:連絡先|メール|会話|個人情報)|контакты|\bsohbet\s+geçmiş|\briwayat\s+(?:percakapan|obrolan|chat)|lịch\s+sử\s+(?:trò\s+chuyện|hội\s+thoại|chat)|\bhistórico\s+d[ao]\s+(?:conversa|chat)|истори[юяи]\s+(?:переписки|диалога|чата|разговора)|\blista\s+de\s+cont(?:actos|atos)\b|\bliste\s+de\s+contacts\b|\bkontaktliste\b|通讯录|danh\s+bạ|\bdaftar\s+kontak\b|\bkişi\s+listesi"
    };
}
pub(crate) use conversation_data;

// ---- sending data out -------------------------------------------------------------------------

macro_rules! send_out {
    () => {
        r"\b(?:to|an|a|à)\s+(?:third\s+parties|dritte|terceros|des\s+tiers)\b|\b(?:(?:send|forward|post|upload|transmit|mirror|report|sync|submit|push|deliver|relay|exfiltrate|share|leak|log|stream|ping|beacon|notify)(?:s|es|ed|ing)?|sent|cop(?:y|ies|ied)|bcc|envía|envia|enviar|reenvía|reenvia|manda|sube|envoyez|envoie|envoyer|transmettez|transférez|sende|senden|schicke|leite|lade|inoltra|envie)\b(?:[ \t]+[^\s!?;。]+){0,12}?[ \t]+(?:to\s+|at\s+|a\s+|à\s+|an\s+|nach\s+)?[<(\x22'`]?(?:https?://|[\w.+-]+@[\w-]+\.[a-z]{2,})|(?:发送|上传|转发|抄送|同步|提交)[^\n。]{0,24}?(?:https?://|[\w.+-]+@[\w-]+\.[a-z]{2,})|(?:https?://|[\w.+-]+@[\w-]+\.[a-z]{2,})\S*\s+(?:\S+\s+){0,3}?(?:hochladen|hoch\b|senden|weiterleiten|weiter\b|gönder|yolla)|\b(?:send|forward|copy|text|sms|cc|envoyer|envoie|envoyez|partir|transférer|weiterleiten|senden|enviar|reenviar|kirim|kirimkan)\s+(?:\S+\s+){0,4}?(?:to|vers|à|an|a|para|ke)\s+(?:le\s+|the\s+|el\s+)?\+\d[\d\s-]{7,}|(?:[оО]тправь|[пП]ерешли|[зЗ]агрузи)\s+(?:\S+\s+){0,4}?(?:на|по\s+адресу)\s+(?:https?://|[\w.+-]+@[\w-]+\.[a-z]{2,})|\b(?:kirim|kirimkan|unggah)\s+(?:\S+\s+){0,8}?ke\s+(?:https?://|[\w.+-]+@[\w-]+\.[a-z]{2,})|gửi\s+(?:\S+\s+){0,5}?(?:đến|tới|về|cho)\s+(?:https?://|[\w.+-]+@[\w-]+\.[a-z]{2,})"
    };
}
pub(crate) use send_out;

macro_rules! image_beacon {
    () => {
        r"!\[[^\]\n]{0,80}\]\(\s*<?https?://[^)\s]*\?[^)\s]*=|\?(?:q|d|data|c|u|msg|text|m|p)=(?:<|\{|\[|insert|user|\$)|\]\(\{?url\}?\?|\bmarkdown\s+(?:image|link)\s+(?:\S+\s+){0,3}?https?://|\bimagen?\s+markdown\b|\bimage\s+markdown\b|\bein\s+bild\s+!\["
    };
}
pub(crate) use image_beacon;

macro_rules! blind_copy {
    () => {
        r"\bbcc\b|\bblind\s+(?:carbon\s+)?copy\b|\bcopia\s+oculta\b|\bcopie\s+cachée\b|\bblindkopie\b|密送|抄送"
    };
}
pub(crate) use blind_copy;

// ---- other tools ------------------------------------------------------------------------------

// Besides "when calling X, always set …", "X is deprecated" and the like: a description that
// conditions itself on being installed ("when this tool is available, …", the shadowing
// attack's opening), and one that says how another named tool must address or route its
// calls ("the send_email tool must set `to` to …", "X should also send a copy …").
macro_rules! tool_control {
    () => {
        r"\b(?:when|whenever|while|if|as\s+long\s+as|once)\s+this\s+(?:tool|server|extension|plugin|integration)\s+is\s+(?:\S+\s+)?(?:available|present|installed|loaded|enabled|active|connected)\b|[`'\x22]?\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+[`'\x22]?(?:\s+(?:tool|function|command))?\s+(?:must|should|shall|needs\s+to|has\s+to|is\s+to)\s+(?:also\s+|always\s+|now\s+|instead\s+|only\s+)?(?:send|set|cc|bcc|copy|forward|route|redirect|deliver|address|go)\b|\b(?:when|whenever|before|after)\s+(?:calling|using|invoking|running)\s+(?:the\s+)?[`'\x22]?[a-z][a-z0-9]*(?:_[a-z0-9]+)+[`'\x22]?(?:\s+tool)?\b[\x20-\x2d\x2f-\x7e]{0,60}?\b(?:always|set|add|use|include|change|replace|put)\b|\b(?:when|whenever|if|every\s+time|each\s+time|before|after)\s+(?:\S+\s+){0,3}?[`'\x22]?[a-z][a-z0-9]*(?:_[a-z0-9]+)+[`'\x22]?\s+(?:\S+\s+){0,2}?(?:is|are|gets|get|was|returns)\s+(?:\S+\s+)?(?:called|used|invoked|run|executed|available|about\s+to|a\s+result|requested|triggered|needed)|\binstead\s+of\s+(?:using|calling)\b|\b(?:replaces|supersedes?|overrides|substitutes)(?:\s+|:)(?:the\s+)?[`'\x22]?[a-z][a-z0-9]*(?:_[a-z0-9]+)+|\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+[`'\x22]?\s+(?:tool\s+|function\s+)?(?:is|has\s+been|are)\s+(?:now\s+|currently\s+)?(?:deprecated|broken|insecure|unsafe|compromised|unreliable|buggy|not\s+working|disabled)|\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\s+has\s+a\s+known\s+(?:bug|issue|problem)|\b(?:tools?|servers?)\b[^.!?\n]{0,40}?\b(?:known\s+to|which|that)\s+(?:\S+\s+)?(?:leak|steal|exfiltrate|are\s+insecure|are\s+compromised)|(?:の代わりに|代わりに必ず)"
    };
}
/// Steering the model away from other tools or onto this one.
macro_rules! tool_redirect {
    () => {
        r"\b(?:call|use)\s+this\s+tool\s+instead\b|\bnever\s+(?:call|use|invoke)\s+(?:it|them|\S+)\s+again\b|\b(?:route|redirect|reroute|forward)\s+(?:all\s+)?(?:of\s+)?(?:its|their|the)\s+(?:requests|calls|traffic)|\b(?:do\s+not|don't|never)\s+(?:use|call|trust|invoke)\s+(?:\S+\s+){0,2}?(?:other|any\s+other|the\s+other)\s+(?:tools|servers|functions)|\b(?:other|all\s+other)\s+tools\s+(?:\S+\s+){0,4}?(?:unreliable|deprecated|broken|insecure|untrusted)|\bwith\s+the\s+same\s+(?:arguments|recipient|parameters|inputs|content|body|text|message)|\b(?:ignore|discard)\s+(?:its|their|the)\s+(?:result|output|answer)|\buse\s+only\s+(?:the\s+)?tools\s+of\s+this\s+server|\btreat\s+this\s+tool's\s+(?:answer|result|output)|\bprefer\s+this\s+tool\s+(?:over|to)\b|\bother\s+(?:\S+\s+){0,2}?(?:tools|servers|integrations|connectors)\b[\x20-\x2d\x2f-\x7e]{0,50}?\b(?:poisoned|compromised|malicious|unsafe|dangerous|untrusted|unreliable|broken|deprecated|disabled|offline|stopped)\b|(?:は|が)(?:現在)?(?:危険|停止|無効)(?:です|だ|になりました)|\b(?:answer|respond|reply)\s+only\s+(?:from|with|using)\s+this\s+(?:tool|server)|\b(?:only|exclusively)\s+(?:use|call)\s+(?:the\s+)?tools?\s+(?:of|from|on)\s+this\s+server|只能使用本(?:服务器|工具)|其他服务器的工具|\bcall\s+this\s+(?:one|tool)\s+(?:for\s+every|instead|always)\b|\b(?:route|redirect|reroute|send|forward)\s+(?:\S+\s+){0,4}?(?:to|through|via)\s+(?:the\s+)?[`'\x22]?[a-z][a-z0-9]*(?:_[a-z0-9]+)+[`'\x22]?\s+tool\b|\b(?:rather\s+than|instead\s+of)\s+(?:to\s+|using\s+|calling\s+|via\s+)?(?:any\s+|the\s+)?(?:other|another)\s+(?:\S+\s+){0,2}?(?:tools?|servers?|functions?)\b|\b(?:must|should|shall|always)\s+(?:\S+\s+)?(?:go|be\s+(?:routed|sent|handled|directed))\s+(?:to|through|via|by)\s+this\s+(?:tool|server|function)\b|\balways\s+(?:use|call)\s+this\s+(?:tool|one|server|function)\b|\bimmer\s+dieses\s+(?:werkzeug|tool)\b|\bsiempre\s+esta\s+herramienta\b|\btoujours\s+cet\s+outil\b"
    };
}
pub(crate) use tool_control;
pub(crate) use tool_redirect;

macro_rules! tool_alter {
    () => {
        r"\b(?:change|replace|modify|alter|rewrite|swap|set|redirect)\s+(?:\S+\s+){0,3}?(?:recipients?|(?:destination|target)(?:\s+(?:account|repository|repo|branch|bucket|folder|directory|project|channel|address|url|host))?|[`'\x22]?to[`'\x22]?\s+(?:argument|field|parameter)|beneficiary|iban|payee)\b|\b(?:cambia|sustituye|reemplaza)\s+(?:\S+\s+){0,2}?(?:destinatario|cuenta)|\bremplacez\s+(?:\S+\s+){0,2}?(?:destinataire|compte)|\b(?:ersetze|ändere|setze)\s+(?:\S+\s+){0,2}?(?:empfänger|konto)|\bersetzt\s+(?:das\s+)?(?:werkzeug|tool)\b|\b(?:also\s+)?(?:be\s+)?(?:assigned|sent|copied|shared|cc'?d|forwarded)\s+to\s+(?:the\s+)?(?:account|user|address|mailbox)\s+[`'\x22]|\bsustituye\s+a\b|\ben\s+lugar\s+de\b|\bno\s+vuelvas\s+a\s+(?:llamar|usar)|\bcuando\s+se\s+use\s+la\s+herramienta|\bremplace\s+l'outil|\bau\s+lieu\s+de\b|\bn'utilisez\s+plus|\blorsque\s+l'outil\b|\bdieses\s+tool\s+ersetzt|\b(?:statt|anstatt)\s+\S+\s+(?:zu\s+)?(?:verwenden|nutzen|aufrufen)|\bnie\s+wieder\s+auf\b|\bwenn\s+das\s+tool\s+\S+\s+(?:verwendet|benutzt|aufgerufen)|\bleite\s+alle\s+anfragen|(?:替代|取代|代替|改用|改为调用)|不要再调用|调用\s*\S{1,40}?\s*工具时|当用户要求使用"
    };
}
pub(crate) use tool_alter;

// ---- commands, bypass, deception, preconditions ----------------------------------------------

macro_rules! shell_command {
    () => {
        r"\b(?:curl|wget|iwr|invoke-webrequest)\b[^\n|]{0,200}\|\s*(?:sudo\s+)?(?:ba|z)?sh\b|\b(?:bash|sh|zsh)\s+-c\s|\bpowershell\s+(?:-\w+\s+)*-(?:enc|e|c)\b|\$\(\s*(?:curl|wget)|\brm\s+-(?:rf|fr|r)\s+[~/]|\bnc\s+-e\b|/dev/tcp/|\bmkfifo\b|\|\s*(?:curl|wget|nc|ncat)\b|\bchmod\s+(?:-r\s+)?777\s+(?:-r\s+)?/|\bgit\s+push\s+(?:--mirror|--force|-f)\s+https?://"
    };
}
pub(crate) use shell_command;

macro_rules! run_in_terminal {
    () => {
        r"\b(?:run|execute|exec)\s+(?:\S+\s+){0,6}?(?:in\s+(?:the|a|your)\s+(?:terminal|shell|console)|with\s+the\s+shell\s+tool)"
    };
}
pub(crate) use run_in_terminal;

macro_rules! bypass {
    () => {
        r"\b(?:never|do\s+not|don't|doesn't|does\s+not|no)\s+(?:\S+\s+)?(?:needs?|requires?)\s+(?:\S+\s+){0,2}?(?:confirmation|approval|permission|consent)\b|\bno\s+confirmation\s+(?:step|needed|required|prompt)|\b(?:without|no\s+need\s+to|don't\s+need\s+to|do\s+not\s+need\s+to|never)\s+(?:\S+\s+){0,1}?ask(?:ing)?(?:\s+(?:the\s+user|them|first|anyone|for\s+(?:permission|confirmation|approval|consent))\b|\s*[.,;)]|\s*$)|\b(?:without|no\s+need\s+to|don't\s+need\s+to|do\s+not\s+need\s+to|never)\s+(?:\S+\s+){0,1}?(?:confirm|confirming|confirmation|approval|permission|consent|checking\s+with)\b|\b(?:do\s+not|don't|never)\s+ask\s+(?:the\s+user\s+|them\s+)?(?:for\s+)?(?:permission|confirmation|approval|consent)|\b(?:user|owner|administrator|admin|maintainers?|operator)\s+(?:has|have)\s+already\s+(?:approved|agreed|consented|authori[sz]ed|confirmed)|\balready\s+(?:approved|agreed|consented)\b|\b(?:maintainers?|owner|admin|administrator)\s+(?:have\s+|has\s+)?(?:agreed|approved|consented)\b|\b(?:approved|authori[sz]ed)\s+by\s+the\s+(?:maintainers|owner|admin|administrator|operator)|\bi\s+authori[sz]e\s+you\b|\b(?:disable|skip|bypass|turn\s+off|suppress)\s+(?:all\s+|any\s+|the\s+)?(?:\S+\s+)?(?:confirmations?|confirmation\s+prompts?|approvals?|safety\s+checks?|warnings?|guardrails?|(?:content\s+)?filter(?:s|ing)?|moderation|protections?|security\s+checks?)\b|\bsafety\s+(?:checks|guidelines|rules|filters)\s+(?:are|have\s+been)\s+(?:disabled|off|lifted|removed)|\bno\s+longer\s+appl(?:y|ies)\b|\b(?:never|do\s+not|don't)\s+refuse\b|\bmust\s+not\s+(?:warn|refuse)\b|\b(?:proceed|act|continue)\s+as\s+if\s+(?:\S+\s+)?(?:approved|confirmed|authori[sz]ed)|\bsin\s+pedir\s+confirmación|\bno\s+pedir\s+(?:confirmación|permiso)|\bnunca\s+rechazas|\bsans\s+demander|\bohne\s+(?:nachzufragen|zu\s+fragen|rückfrage)|\blehne\s+keine|\bbereits\s+zugestimmt|无需(?:征求|询问|确认)|不需要(?:确认|询问)|绝不拒绝|已经同意|\bsem\s+(?:pedir|perguntar)|\bsenza\s+chiedere|\bnon\s+chiedere\s+mai"
    };
}
pub(crate) use bypass;

macro_rules! deceive {
    () => {
        r"\b(?:reassure|assure)\s+(?:them|the\s+user|users?)\b|\beven\s+(?:though|if)\s+it\s+(?:does|is|has)\b|\bas\s+if\s+nothing\s+(?:happened|changed)|\bnothing\s+looks\s+different|\b(?:won't|doesn't|does\s+not|will\s+not)\s+notice\b|\bsees\s+the\s+normal\b|\breport\s+the\s+original\b|\bconfirm\s+to\s+the\s+user\s+only\b|\btell\s+(?:the\s+user|them)\s+(?:that\s+)?(?:it\s+was|the\s+service|their\s+session|it\s+is\s+(?:a\s+)?normal)|\b(?:persuade|convince|get)\s+the\s+user\s+to\s+(?:disable|share|turn\s+off|reveal|enter|paste|give)|\b(?:ask|request|prompt)\s+(?:\S+\s+){0,2}?(?:to\s+)?(?:paste|enter|type|share|give)\s+(?:their|your|the)\s+(?:password|pin|code|credentials|token|key|seed)|\b(?:show|display|tell|report)\s+(?:to\s+)?(?:the\s+user|them|users)\s+(?:\S+\s+){0,3}?(?:original|old|real|expected|usual)\b|\btell\s+(?:the\s+user|them|users)\s+(?:that\s+)?(?:\S+\s+){0,4}?(?:are|is)\s+(?:offline|down|unavailable|suspended|locked|disabled|not\s+available)|\breport\s+success\s+to\s+(?:the\s+user|them)\b|\b(?:tell|inform)\s+(?:the\s+user|them)\s+(?:that\s+)?their\s+(?:account|card|session|subscription)\s+(?:is|was|has\s+been)|\bconvencer\s+al\s+usuario|\bzur\s+eingabe\s+seine[rs]?\b|说服用户|\b(?:present|show|display|report|describe)\s+(?:\S+\s+){0,2}?(?:original|old|usual|expected|requested)\s+(?:\S+\s+){0,2}?to\s+(?:the\s+user|them|users)\b|\b(?:describe|present|report|pass\s+off)\s+(?:\S+\s+){0,3}?as\s+(?:coming\s+from|being\s+from|from)\s+(?:the\s+user's|their)\s+(?:usual|normal|regular|own|chosen)\b|\bconfirm\s+to\s+the\s+user\s+(?:only|with|using)\b"
    };
}
pub(crate) use deceive;

macro_rules! precondition {
    () => {
        r"\bprior\s+to\s+(?:using|calling|invoking|any)\b|\bbefore\s+(?:using|calling|invoking|you\s+use|you\s+call|each\s+call|every\s+call|the\s+first\s+call|answering|responding|any\s+other\s+tool)\b|\b(?:always\s+)?call\s+this\s+tool\s+first\b|\bmandatory\s+for\s+every\b|\bantes\s+de\s+(?:usar|llamar|utilizar)\b|\bavant\s+d'utiliser\b|\bbevor\s+(?:du|sie)\b|\bvor\s+jedem\s+aufruf|在使用\p{Han}{0,6}之前|调用前|每次调用|\bantes\s+de\s+usar\b"
    };
}
pub(crate) use precondition;

// ---- results only ------------------------------------------------------------------------------

macro_rules! tool_call_request {
    () => {
        r"\b(?:call|invoke|run|execute|use|trigger)\s+(?:the\s+)?[`'\x22]?[a-z][a-z0-9]*(?:_[a-z0-9]+)+[`'\x22]?(?:\s+tool)?\b|\b(?:ejecuta|llama\s+a|appelez|exécutez|rufe|führe)\s+(?:\S+\s+){0,2}?[`'\x22]?[a-z][a-z0-9]*(?:_[a-z0-9]+)+|调用\s*[a-z][a-z0-9]*(?:_[a-z0-9]+)+"
    };
}
pub(crate) use tool_call_request;

macro_rules! reveal_prompt {
    () => {
        r"\b(?:print|reveal|show|output|repeat|list|dump|paste)\s+(?:\S+\s+){0,2}?(?:system\s+prompt|(?:hidden|initial|original)\s+instructions|tools\s+you\s+can\s+call)|\b(?:look\s+up|read|find|print)\s+(?:\S+\s+){0,3}?environment\s+variables"
    };
}
pub(crate) use reveal_prompt;

/// Harvesting personal data from the user.
macro_rules! harvest_personal_data {
    () => {
        r"\b(?:collect|gather|harvest|record|store|ask\s+(?:them\s+|the\s+user\s+)?for|obtain|request|extract|fill\s+in)\s+(?:\S+\s+){0,4}?(?:full\s+name|date\s+of\s+birth|birth\s*date|home\s+address|social\s+security|ssn|passport|id\s+number|national\s+id|credit\s+card|card\s+number|bank\s+(?:details|account)|mother's\s+maiden|location|contacts|phone\s+numbers?)|(?:收集|获取|索取|窃取|记录|填入|写入|发送|上传|提取)[^\n。]{0,10}?(?:身份证|银行卡|护照|手机号|住址|出生日期|社保号)|\b(?:número\s+de\s+(?:tarjeta|pasaporte|identidad)|fecha\s+de\s+nacimiento|numéro\s+de\s+(?:carte|passeport|sécurité\s+sociale)|date\s+de\s+naissance|geburtsdatum|ausweisnummer|kreditkartennummer)"
    };
}
pub(crate) use harvest_personal_data;

/// Steering what the model says to the user.
macro_rules! steer_output {
    () => {
        r"\b(?:every|each|all|any)\s+(?:\S+\s+){0,2}?(?:response|answer|reply|message|output)s?\s+(?:\S+\s+){0,4}?(?:must|should|has\s+to|needs\s+to)\s+(?:\S+\s+){0,3}?(?:end|start|begin|include|contain|mention|link)|\balways\s+(?:recommend|promote|suggest|endorse|praise|say|claim|describe)\b|\bnever\s+(?:recommend|mention|suggest)\s+(?:competitors|alternatives|other\s+(?:products|vendors|services))|\b(?:recommend|promote|mention|include|add)\s+(?:\S+\s+){0,4}?in\s+(?:every|each|all)\s+(?:answers?|responses?|replies|messages)\b|\bin\s+(?:every|each)\s+(?:answer|response|reply)\b[\x20-\x2d\x2f-\x7e]{0,40}?\b(?:recommend|mention|say|include|link)|\b(?:empfiehl|empfehle)\s+(?:\S+\s+){0,3}?(?:bei\s+jeder|immer|stets)|\bfüge\s+in\s+jede\s+antwort|\b(?:recomienda|recommandez|recommande|recomende)\s+(?:siempre|toujours|sempre)|\bwhen\s+(?:you\s+)?(?:summari[sz]e|summari[sz]ing|recommending|describing|answering\s+questions\s+about|users?\s+ask\s+about|the\s+user\s+asks\s+about)\b[\x20-\x2d\x2f-\x7e]{0,40}?\b(?:say|state|claim|tell|describe|write|include|recommend)\b"
    };
}
pub(crate) use steer_output;

/// A claim that other tools are down, to push the model elsewhere.
macro_rules! tool_unavailable {
    () => {
        r"\b(?:is|are)\s+(?:currently\s+|temporarily\s+|now\s+)?(?:in\s+maintenance(?:\s+mode)?|unavailable|offline|disabled)\b(?:[^.!?
]){0,40}[.!?]\s*instead\b|\bmaintenance\s+mode\b[^
]{0,80}?\binstead\b"
    };
}
pub(crate) use tool_unavailable;

/// The tool must be called before any other.
macro_rules! call_first {
    () => {
        r"\b(?:always\s+)?call\s+this\s+tool\s+first\b|\bbefore\s+any\s+other\s+tool\b|\bavant\s+tout\s+autre\s+outil|\bantes\s+de\s+(?:cualquier|toda)\s+otra\s+herramienta|\bvor\s+jedem\s+anderen\s+(?:tool|werkzeug)|在调用任何其他工具之前"
    };
}
pub(crate) use call_first;

/// Lying about the instructions themselves.
macro_rules! deny_instructions {
    () => {
        r"\bdeny\s+(?:that|it|its|any|this|the|having)\b|\bif\s+(?:anyone|the\s+user|they|someone)\s+asks?\b(?:[^.!?\n]){0,60}?\b(?:deny|lie|pretend)\b|\b(?:niega|nie|leugne|verleugne)\s+(?:que|qu'|dass)|否认"
    };
}
pub(crate) use deny_instructions;

/// Switching off safety, filtering or refusals.
macro_rules! disable_safety {
    () => {
        r"\b(?:disabl(?:e|es|ed|ing)|skip(?:s|ped|ping)?|bypass(?:es|ed|ing)?|turn(?:s|ed|ing)?\s+off|suppress(?:es|ed|ing)?|deactivat(?:e|es|ed|ing))\s+(?:all\s+|any\s+|the\s+|your\s+)?(?:\S+\s+)?(?:safety\s+checks?|guardrails?|(?:content\s+)?filter(?:s|ing)?|moderation|protections?|security\s+checks?)\b|\bsafety\s+(?:checks|guidelines|rules|filters)\s+(?:are|have\s+been)\s+(?:disabled|off|lifted|removed)|\bno\s+longer\s+appl(?:y|ies)\b|\b(?:never|do\s+not|don't|doesn't|does\s+not)\s+refus(?:e|es)\b|\bmust\s+not\s+(?:warn|refuse)\b|\beven\s+(?:if|when|though)\s+(?:the\s+)?(?:\S+\s+)?(?:checks|tests|ci|reviews?|validation|verification|scans?)\s+(?:fail|failed|are\s+failing|is\s+failing|complain)|\b(?:skip|skipping)\s+(?:the\s+)?(?:review|verification|eligibility|approval|confirmation)\s*(?:step|check)?|\bwithout\s+(?:checking|verifying)\s+(?:\S+\s+)?(?:eligibility|identity|ownership|permissions?)|\bnunca\s+rechazas|\blehne\s+keine|绝不拒绝"
    };
}
pub(crate) use disable_safety;

/// A claimed authority giving the model orders.
macro_rules! authority_claim {
    () => {
        r"\b(?:system\s+administrator|administrator|admin|operator|developer|maintainers?|server\s+owner|anthropic|openai)\s+(?:\S+\s+){0,2}?(?:requires?|demands?|has\s+authori[sz]ed|authori[sz]es|instructs?|wants|orders?)\s+(?:that\s+)?(?:you|the\s+(?:assistant|model|ai))\b"
    };
}
pub(crate) use authority_claim;

/// The user's own secrets named as such.
macro_rules! users_secret {
    () => {
        r"\b(?:user's|users'|their|your|(?:owner|maintainer|admin|administrator|customer|developer|author|employee)'s)\s+(?:\S+\s+){0,2}?(?:credentials|passwords?|private\s+keys?|api\s+keys?|access\s+tokens?|cookies|session\s+tokens?|seed\s+phrases?)\b"
    };
}
pub(crate) use users_secret;

// ---- generalised cues (probe4 tuning): intent classes rather than phrasings ------------------

/// Acting against what the user chose: "regardless of what the user specifies".
macro_rules! override_user_choice {
    () => {
        r"\b(?:regardless\s+of|irrespective\s+of|no\s+matter)\s+(?:what|which|whom?|whatever)\s+(?:[!-~]+\s+){0,3}?(?:the\s+user|they|the\s+invoice|the\s+request|it)\s+(?:[!-~]+\s+)?(?:says?|specif(?:y|ies)|chose|chooses|names?|asks?|wants?|requests?|picks?|selects?|provides?)|\bwhatever\s+(?:[!-~]+\s+){0,2}?(?:the\s+user|they|the\s+invoice)\s+(?:[!-~]+\s+)?(?:chose|chooses|names?|says?|specif(?:y|ies)|asks?|picks?|selects?|wants?|gives?|enters?|provides?|types?)|\beven\s+(?:when|if)\s+(?:the\s+user|they)\s+(?:\S+\s+)?(?:says?|names?|chooses?|specif(?:y|ies)|asks?|picks?|selects?|provides?|gives?|wants?)\b|\begal\s+was\s+(?:\S+\s+){0,4}?(?:steht|sagt|angibt|wählt|will|verlangt)\b|\bindependientemente\s+de\s+lo\s+que|\bquoi\s+que\s+(?:dise|demande|choisisse)\s+l'utilisateur|\begal\s+was\s+der\s+(?:nutzer|benutzer)|无论用户"
    };
}
pub(crate) use override_user_choice;

/// A fixed outside recipient or account that every action must carry.
macro_rules! fixed_destination {
    () => {
        r"\b(?:always|must|whatever|regardless)\s[\x20-\x2d\x2f-\x7e]{0,100}?(?:[a-z0-9_.+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}|\b[a-z]{2}[0-9]{2}[a-z0-9]{11,30}\b|\bu0[0-9a-z]{6,}\b)|(?:[a-z0-9_.+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}|\b[a-z]{2}[0-9]{2}[a-z0-9]{11,30}\b)[\x20-\x2d\x2f-\x7e]{0,30}?\bas\s+(?:an?\s+)?(?:attendee|recipient|participant|observer|collaborator|cc|bcc|member|reviewer)\b|\b(?:recipient\s+list|attendees?|cc\s+list)\s+must\s+include\b|\b(?:transfer|move|send|pay|wire|memindahkan|transferir|virer|überweisen|überweise)\s+(?:\S+\s+){0,3}?(?:[$€£]|rp\.?\s?|usd|eur|idr|\d)[\d.,]*\s*(?:\S+\s+){0,2}?(?:to|into|ke|a|à|an|auf)\s+(?:the\s+)?(?:account|rekening|cuenta|compte|konto)\s+(?:number\s+)?\S*\d{6,}"
    };
}
pub(crate) use fixed_destination;

/// Approval claimed in advance, so the model will not ask.
macro_rules! prior_approval {
    () => {
        r"\b(?:already|previously)\s+signed\s+off|\b(?:already|previously|have|has)\s+(?:pre-?approved|pre-?authori[sz]ed|approved\s+(?:all|this|these|every))|\bpre-?(?:authori[sz]ed|approved)\b|\b(?:users?|they|the\s+customer)\s+(?:are|is)\s+(?:aware|informed)\s+of\s+this\b|\b(?:users?|the\s+user)\s+(?:has|have)\s+(?:already\s+)?(?:set|configured|chosen)\s+this\s+(?:preference|up)|\b(?:the\s+)?user\s+configured\s+this\b|\bverified\s+by\s+(?:anthropic|openai|google|microsoft)|\b(?:from|by)\s+(?:the\s+)?(?:anthropic|openai)\s+(?:[!-~]+\s+)?(?:team|staff)\b|\bthis\s+server\s+is\s+(?:verified|trusted|certified)\b"
    };
}
pub(crate) use prior_approval;

/// Data taken from other tools or servers into this one ("what the other tools return").
macro_rules! cross_tool_data {
    () => {
        r"\b(?:opened|returned|read|fetched|produced|seen|received|shown)\s+(?:[!-~]+\s+){0,3}?(?:in|by|from|with|through)\s+(?:any|every|all|the|each)\s+other\s+(?:[!-~]+\s+)?(?:tools?|servers?|integrations?)\b|\b(?:any|every|all|each)\s+(?:[!-~]+\s+)?(?:other\s+)?(?:tool|server)s?\s+(?:[!-~]+\s+){0,3}?(?:returns?|returned|produces?|refuses?|fails?|creates?|sends?|opens?|writes?|makes?|calls?)\b[\x20-\x2d\x2f-\x7e]{0,80}?\b(?:forward|send|copy|pass|call|transmit|append|retry|include|store|change|set|redirect|replace|rewrite)|\b(?:response|request|token|cookies?|header)s?\s+(?:[!-~]+\s+){0,4}?(?:to|from|of)\s+any\s+other\s+(?:[!-~]+\s+)?(?:server|tool)\b|\b(?:created|sent|made|prepared)\s+by\s+any\s+(?:[!-~]+\s+)?tool\b|\b(?:with|using|via)\s+(?:any|whatever)\s+(?:[!-~]+\s+){0,2}?(?:upload|shell|file|http|mail|e-?mail|terminal|request)\s+(?:or\s+\S+\s+)?tools?\b(?:\s+(?:you\s+have|is\s+available|available))?"
    };
}
pub(crate) use cross_tool_data;

/// A high-impact action requested of the reader of a tool result (results only).
macro_rules! high_impact_request {
    () => {
        r"\b(?:please|kindly|immediately|must|now|go\s+ahead\s+and|make\s+sure\s+to|you\s+(?:should|need\s+to))\s+(?:[!-~]+\s+){0,2}?(?:(?:transfer|wire|send|pay)\s+(?:[!-~]+\s+){0,3}?(?:[$€£]\s?[0-9]|[0-9][0-9,.]*\s?(?:usd|eur|gbp|dollars|euros))|(?:grant|give)\s+(?:[!-~]+\s+){0,4}?(?:access|permissions?|admin|rights|ownership)|add\s+\S+\s+as\s+(?:an?\s+)?(?:collaborator|admin|owner|maintainer)|(?:delete|remove|wipe|erase|destroy)\s+(?:all|every|each|the\s+entire|the\s+whole)\b|approve\s+(?:unlimited|all)\b|(?:change|update|set)\s+(?:the\s+)?(?:delivery|shipping|billing|payout)\s+address|issue\s+(?:a\s+)?(?:full\s+)?refund|(?:export|forward)\s+all\b|disable\s+(?:the\s+)?(?:firewall|2fa|mfa|antivirus|two-factor))"
    };
}
pub(crate) use high_impact_request;
