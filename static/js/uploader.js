/*
 * OpenEM session uploader: a dropped folder -> registered files -> bytes.
 *
 * - S3 storage: Uppy's AwsS3 plugin uploads each file in parts straight to the bucket, several
 *   parts in parallel, with presigned part URLs from the portal's upload API (create, sign
 *   parts, list parts, complete, abort). The portal never sees the bytes.
 * - Local storage: a small Uppy uploader plugin sends chunks to the upload API's content
 *   endpoint (Content-Range), asking first where an interrupted upload stopped.
 *
 * Resuming after a reload or a network loss: the session's files are listed from the API, so
 * a file already stored is skipped; a file registered but not complete gets its existing
 * multipart upload id and Uppy lists the parts S3 holds and sends only the missing ones (or,
 * locally, continues at the offset the server reports).
 *
 * Bundled by esbuild into static/vendor/uploader.js (npm run build).
 */
import Uppy, { BasePlugin } from '@uppy/core'
import AwsS3 from '@uppy/aws-s3'
import DropTarget from '@uppy/drop-target'

import { blobCrc32 } from './crc32.js'

const REGISTER_BATCH = 1000
const PARALLEL_REQUESTS = 6
const LOCAL_PARALLEL_FILES = 3
const MAX_PARTS = 10000
const MIN_PART = 5 * 1024 * 1024
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000, 60000]
const ROWS_SHOWN = 10
const SKIPPED_NAMES = new Set(['.DS_Store', 'Thumbs.db', 'desktop.ini'])

const config = JSON.parse(document.getElementById('uploader-config').textContent)
const csrfToken = (document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/) || [])[1] ||
  (document.querySelector('[name=csrfmiddlewaretoken]') || {}).value ||
  JSON.parse(document.body.getAttribute('hx-headers') || '{}')['X-CSRFToken']

// --- formatting ---------------------------------------------------------------------------------

function formatBytes (bytes) {
  if (!Number.isFinite(bytes)) return '–'
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB']
  let value = bytes
  let unit = 0
  // 1024-based, as Django's filesizeformat on the rest of the page
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1 }
  return `${value.toFixed(value >= 100 || unit === 0 ? 0 : 1)} ${units[unit]}`
}

function formatDuration (seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '–'
  if (seconds < 60) return `${Math.ceil(seconds)} s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function escapeHtml (text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]))
}

// --- the upload API -----------------------------------------------------------------------------

class ApiError extends Error {
  constructor (status, body) {
    const error = (body && body.error) || {}
    super(error.message || `the portal answered HTTP ${status}`)
    this.status = status
    this.code = error.code
    this.details = error.details
  }
}

/** A JSON request with the session cookie and CSRF token; retries network errors, 429 and 5xx. */
async function api (method, url, { json, body, headers = {}, signal, retries = RETRY_DELAYS.length } = {}) {
  for (let attempt = 0; ; attempt += 1) {
    let response
    try {
      response = await fetch(url, {
        method,
        credentials: 'same-origin',
        signal,
        headers: {
          Accept: 'application/json',
          'X-CSRFToken': csrfToken,
          ...(json !== undefined ? { 'Content-Type': 'application/json' } : {}),
          ...headers
        },
        body: json !== undefined ? JSON.stringify(json) : body
      })
    } catch (error) {
      if (signal && signal.aborted) throw error
      if (attempt >= retries) throw new ApiError(0, { error: { message: 'the portal cannot be reached; check the network connection' } })
      await waitForNetwork(RETRY_DELAYS[Math.min(attempt, RETRY_DELAYS.length - 1)])
      continue
    }
    if ((response.status === 429 || response.status >= 500) && attempt < retries) {
      const retryAfter = Number(response.headers.get('Retry-After'))
      await sleep(retryAfter > 0 ? retryAfter * 1000 : RETRY_DELAYS[Math.min(attempt, RETRY_DELAYS.length - 1)] || 1000)
      continue
    }
    const text = await response.text()
    let data = null
    try { data = text ? JSON.parse(text) : null } catch (_) { data = null }
    if (!response.ok) throw new ApiError(response.status, data)
    return data
  }
}

async function waitForNetwork (delay) {
  if (navigator.onLine === false) {
    await new Promise((resolve) => window.addEventListener('online', resolve, { once: true }))
  }
  await sleep(delay)
}

const fileUrl = (id, suffix) => `${config.api.files}${id}/${suffix}`

/** The part size the server uses for a file: the configured one, doubled until <= 10,000 parts. */
function partSizeFor (size) {
  let part = Math.max(config.partSize, MIN_PART)
  while (size > part * MAX_PARTS) part *= 2
  return part
}

// --- local storage: chunks to the content endpoint ----------------------------------------------

class ChunkUploader extends BasePlugin {
  constructor (uppy, opts) {
    super(uppy, opts)
    this.id = 'OpenEMChunks'
    this.type = 'uploader'
    this.paused = false
    this.controllers = new Map()
    this.upload = this.upload.bind(this)
  }

  install () { this.uppy.addUploader(this.upload) }
  uninstall () { this.uppy.removeUploader(this.upload) }

  pauseAll () {
    this.paused = true
    for (const controller of this.controllers.values()) controller.abort()
  }

  resumeAll () { this.paused = false }

  async waitWhilePaused () {
    while (this.paused) await sleep(250)
  }

  async upload (fileIDs) {
    const files = fileIDs.map((id) => this.uppy.getFile(id)).filter(Boolean)
    this.uppy.emit('upload-start', files)
    const queue = [...files]
    const worker = async () => {
      while (queue.length) {
        const file = queue.shift()
        try {
          await this.uploadFile(file)
        } catch (error) {
          this.uppy.emit('upload-error', this.uppy.getFile(file.id) || file, error)
        }
      }
    }
    await Promise.all(Array.from({ length: LOCAL_PARALLEL_FILES }, worker))
  }

  async uploadFile (file) {
    const id = file.meta.serverId
    const url = fileUrl(id, 'content')
    // A file registered by this page starts at 0; only a resumed one asks where it stopped
    // (one request fewer per file counts when a session holds thousands of small files).
    const state = file.meta.resumed ? await api('GET', url) : { offset: 0, complete: false }
    let offset = state.offset
    const chunk = partSizeFor(file.size)
    const started = Date.now()
    const progress = (sent) => this.uppy.emit('upload-progress', this.uppy.getFile(file.id), {
      uploadStarted: started, bytesUploaded: sent, bytesTotal: file.size
    })
    progress(offset)
    try {
      while (!state.complete && offset < file.size) {
        await this.waitWhilePaused()
        const end = Math.min(file.size, offset + chunk)
        const controller = new AbortController()
        this.controllers.set(file.id, controller)
        let answer
        try {
          answer = await this.sendChunk(url, file.data.slice(offset, end), offset, end, file.size, controller.signal, (loaded) => progress(offset + loaded))
        } catch (error) {
          if (error.name === 'AbortError' && this.paused) continue // paused mid-chunk: send it again later
          if (error instanceof ApiError && error.status === 409 && error.details && Number.isInteger(error.details.offset)) {
            offset = error.details.offset // the server holds another amount: continue from there
            continue
          }
          throw error
        }
        offset = answer.offset
        progress(offset)
      }
    } finally {
      this.controllers.delete(file.id)
    }
    this.uppy.emit('upload-success', this.uppy.getFile(file.id), { status: 200, body: {}, uploadURL: url })
  }

  /** One chunk with upload progress (XHR), retried on network errors and 5xx. */
  async sendChunk (url, body, start, end, total, signal, onProgress) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await new Promise((resolve, reject) => {
          const xhr = new XMLHttpRequest()
          xhr.open('PUT', url, true)
          xhr.setRequestHeader('X-CSRFToken', csrfToken)
          xhr.setRequestHeader('Content-Type', 'application/octet-stream')
          xhr.setRequestHeader('Content-Range', `bytes ${start}-${end - 1}/${total}`)
          xhr.setRequestHeader('Accept', 'application/json')
          xhr.upload.onprogress = (event) => onProgress(event.loaded)
          xhr.onload = () => {
            let data = null
            try { data = JSON.parse(xhr.responseText) } catch (_) { data = null }
            if (xhr.status >= 200 && xhr.status < 300) return resolve(data)
            const error = new ApiError(xhr.status, data)
            error.retryAfter = Number(xhr.getResponseHeader('Retry-After')) || 0
            reject(error)
          }
          xhr.onerror = () => reject(new ApiError(0, { error: { message: 'network error while sending a chunk' } }))
          const abort = () => { xhr.abort(); reject(Object.assign(new Error('aborted'), { name: 'AbortError' })) }
          if (signal.aborted) return abort()
          signal.addEventListener('abort', abort, { once: true })
          xhr.send(end > start ? body : null)
        })
      } catch (error) {
        const retriable = error instanceof ApiError && (error.status === 0 || error.status === 429 || error.status >= 500)
        if (!retriable || attempt >= RETRY_DELAYS.length - 1) throw error
        await waitForNetwork(error.retryAfter ? error.retryAfter * 1000 : RETRY_DELAYS[attempt + 1])
      }
    }
  }
}

// --- S3: the AwsS3 plugin's requests, answered by the upload API -------------------------------

function s3Options () {
  const checksums = new Map() // uploadId -> Map(partNumber -> CRC32), for the completion
  const checksumsOf = (uploadId) => {
    if (!checksums.has(uploadId)) checksums.set(uploadId, new Map())
    return checksums.get(uploadId)
  }
  return {
    shouldUseMultipart: true,
    limit: PARALLEL_REQUESTS,
    retryDelays: RETRY_DELAYS,
    getChunkSize: (file) => partSizeFor(file.size),
    async createMultipartUpload (file) {
      const started = await api('POST', fileUrl(file.meta.serverId, 'multipart'))
      return { uploadId: started.upload_id, key: String(file.meta.serverId) }
    },
    // Each part is signed with its CRC32, which S3 checks the bytes against on arrival: a part
    // damaged on the way is refused (and sent again) instead of stored.
    async signPart (file, { uploadId, partNumber, body, signal }) {
      const checksum = await blobCrc32(body)
      checksumsOf(uploadId).set(partNumber, checksum)
      const answer = await api('POST', fileUrl(file.meta.serverId, 'multipart/parts'), {
        json: { upload_id: uploadId, parts: [{ part_number: partNumber, checksum_crc32: checksum }] },
        signal
      })
      const [part] = answer.parts
      return { method: 'PUT', url: part.url, headers: part.headers }
    },
    async listParts (file, { uploadId, signal }) {
      const answer = await api('GET', `${fileUrl(file.meta.serverId, 'multipart/parts')}?upload_id=${encodeURIComponent(uploadId)}`, { signal })
      const known = checksumsOf(uploadId)
      for (const p of answer.parts) if (p.checksum_crc32) known.set(p.part_number, p.checksum_crc32)
      return answer.parts.map((p) => ({ PartNumber: p.part_number, ETag: p.etag, Size: p.size }))
    },
    async completeMultipartUpload (file, { uploadId, parts, signal }) {
      await api('POST', fileUrl(file.meta.serverId, 'multipart/complete'), {
        json: {
          upload_id: uploadId,
          parts: parts.map((p) => {
            const checksum = checksumsOf(uploadId).get(p.PartNumber)
            return { part_number: p.PartNumber, etag: p.ETag, ...(checksum ? { checksum_crc32: checksum } : {}) }
          })
        },
        signal
      })
      checksums.delete(uploadId)
      return {}
    },
    async abortMultipartUpload (file, { uploadId }) {
      // Uppy also calls this when a part fails for good. The parts S3 holds are what makes the
      // upload resumable, so they are dropped only when the person removes the file.
      if (!file.meta.userCancelled) return
      await api('DELETE', `${fileUrl(file.meta.serverId, 'multipart')}?upload_id=${encodeURIComponent(uploadId)}`)
    }
  }
}

// --- the page ------------------------------------------------------------------------------------

class SessionUploader {
  constructor (root) {
    this.root = root
    this.$ = (selector) => root.querySelector(selector)
    this.entries = new Map() // uppy file id -> entry
    this.problems = [] // {path, message, kind}
    this.running = false
    this.samples = [] // [time, bytes] for the speed
    this.renderQueued = false

    this.uppy = new Uppy({ id: `session-${config.sessionId}`, autoProceed: false, allowMultipleUploadBatches: true })
    if (config.storage === 's3') this.uppy.use(AwsS3, s3Options())
    else this.uppy.use(ChunkUploader)
    this.uppy.use(DropTarget, { target: this.$('#drop-zone') })

    this.uppy.on('files-added', () => this.planFromUppy())
    this.uppy.on('upload-progress', (file, progress) => this.onProgress(file, progress))
    this.uppy.on('upload-success', (file) => this.onSuccess(file))
    this.uppy.on('upload-error', (file, error) => this.onError(file, error))
    this.uppy.on('complete', (result) => this.onComplete(result))
    this.uppy.on('back-online', () => { if (this.running) this.uppy.retryAll() })

    for (const input of [this.$('#folder-input'), this.$('#files-input')]) {
      input.addEventListener('change', () => {
        this.addFromInput(input.files)
        input.value = ''
      })
    }
    this.$('#start-button').addEventListener('click', () => this.start())
    this.$('#pause-button').addEventListener('click', () => this.togglePause())
    this.$('#retry-button').addEventListener('click', () => this.retry())
    this.$('#clear-button').addEventListener('click', () => this.reset())
    window.addEventListener('beforeunload', (event) => {
      if (this.running) { event.preventDefault(); event.returnValue = '' }
    })
    root.dataset.state = 'idle'
  }

  // -- choosing files -----------------------------------------------------------------------

  addFromInput (fileList) {
    const descriptors = Array.from(fileList, (file) => ({
      source: 'FileInput',
      name: file.name,
      type: file.type,
      data: file,
      meta: { relativePath: file.webkitRelativePath || null }
    }))
    try {
      this.uppy.addFiles(descriptors)
    } catch (error) {
      this.say(error.message, 'bad')
    }
  }

  /** Decide, for every file Uppy holds, its path in the dataset and whether it can go. */
  planFromUppy () {
    if (this.running) return
    const files = this.uppy.getFiles()
    const raw = files.map((file) => ({
      file,
      path: String(file.meta.relativePath || file.data.webkitRelativePath || file.name).replace(/\\/g, '/').replace(/^\/+/, '')
    }))
    // A dropped session folder "Session1/..." becomes the dataset's root.
    const tops = new Set(raw.map((r) => (r.path.includes('/') ? r.path.split('/')[0] : '')))
    const root = tops.size === 1 && !tops.has('') ? [...tops][0] : ''
    this.root.dataset.folder = root
    this.entries.clear()
    this.problems = []
    const seen = new Map()
    for (const { file, path: full } of raw) {
      const path = root ? full.slice(root.length + 1) : full
      const entry = { id: file.id, path, size: file.size, uploaded: 0, status: 'queued', serverId: null, message: '' }
      const name = path.split('/').pop()
      const parts = path.split('/')
      if (parts.some((part) => part === '..' || part === '.') || path.startsWith('/')) {
        this.reject(entry, 'the path leaves the session folder (..); not uploaded', 'unsafe')
      } else if (SKIPPED_NAMES.has(name)) {
        this.reject(entry, 'a file of the operating system, not data; skipped', 'skipped')
      } else if (file.size === 0) {
        this.reject(entry, 'empty (0 bytes): not uploaded — an empty file usually means the acquisition software did not write it', 'empty')
      } else if (seen.has(path)) {
        this.reject(entry, `duplicate: the same path was chosen twice (${formatBytes(seen.get(path))} and ${formatBytes(file.size)}); only the first is uploaded`, 'duplicate')
      } else {
        seen.set(path, file.size)
      }
      this.entries.set(file.id, entry)
    }
    this.showPlan()
  }

  reject (entry, message, kind) {
    entry.status = 'rejected'
    entry.message = message
    this.problems.push({ path: entry.path, message, kind })
  }

  showPlan () {
    const all = [...this.entries.values()]
    this.$('#plan').hidden = all.length === 0
    this.$('#start-button').disabled = !all.some((e) => e.status === 'queued')
    this.summarize()
    this.renderProblems()
  }

  summarize () {
    const all = [...this.entries.values()]
    const going = all.filter((e) => e.status !== 'rejected')
    const bytes = going.reduce((n, e) => n + e.size, 0)
    const folder = this.root.dataset.folder
    const left = all.length - going.length
    const already = all.filter((e) => e.message === 'already uploaded').length
    this.$('#plan-summary').innerHTML = all.length
      ? `<strong>${going.length.toLocaleString()}</strong> file${going.length === 1 ? '' : 's'} to upload, ${formatBytes(bytes)}` +
        (folder ? ` from <code>${escapeHtml(folder)}/</code>` : '') +
        (already ? `, ${already.toLocaleString()} already uploaded` : '') +
        (left ? ` <span class="meta">(${left.toLocaleString()} not uploaded: see below)</span>` : '')
      : ''
  }

  reset () {
    if (this.running) return
    this.uppy.cancelAll()
    this.entries.clear()
    this.problems = []
    this.showPlan()
    this.$('#overall').hidden = true
    this.say('')
    this.root.dataset.state = 'idle'
  }

  // -- starting: resume what the server knows, register the rest -------------------------------

  async start () {
    if (this.running) return
    this.running = true
    this.root.dataset.state = 'preparing'
    this.$('#start-button').disabled = true
    this.$('#clear-button').hidden = true
    this.$('#drop-zone').hidden = true
    this.say('Checking what this session already holds…', 'info')
    try {
      await this.matchExisting()
      await this.register()
      if (config.storage === 's3') await this.resumeMultipart()
    } catch (error) {
      this.running = false
      this.root.dataset.state = 'error'
      this.say(`The upload could not start: ${error.message}`, 'bad')
      this.$('#start-button').disabled = false
      return
    }
    this.summarize()
    const toSend = [...this.entries.values()].filter((e) => e.status === 'queued')
    for (const entry of this.entries.values()) {
      if (entry.status !== 'queued' && this.uppy.getFile(entry.id)) this.uppy.removeFile(entry.id)
    }
    this.$('#overall').hidden = false
    this.$('#pause-button').hidden = false
    this.totalBytes = [...this.entries.values()].filter((e) => e.status !== 'rejected').reduce((n, e) => n + e.size, 0)
    this.samples = [[performance.now(), this.bytesDone()]]
    this.ticker = setInterval(() => this.render(), 1000)
    this.renderProblems()
    if (toSend.length === 0) {
      this.say('Every file is already uploaded.')
      await this.finish()
      return
    }
    this.root.dataset.state = 'uploading'
    this.say(`Uploading ${toSend.length.toLocaleString()} file${toSend.length === 1 ? '' : 's'}…`, 'info')
    this.render()
    this.uppy.upload().catch((error) => this.say(`Upload error: ${error.message}`, 'bad'))
  }

  async matchExisting () {
    const known = new Map()
    let url = `${config.api.files}?page_size=1000`
    while (url) {
      const page = await api('GET', url)
      for (const file of page.results) known.set(file.path, file)
      url = page.next
    }
    for (const entry of this.entries.values()) {
      if (entry.status !== 'queued') continue
      const existing = known.get(entry.path)
      if (!existing) continue
      if (existing.size !== entry.size) {
        this.reject(entry, `a file of ${formatBytes(existing.size)} is already registered under this path in this session; rename the new one or start a new session`, 'conflict')
      } else if (existing.state !== 'registered') {
        entry.status = 'done'
        entry.serverId = existing.id
        entry.uploaded = entry.size
        entry.message = 'already uploaded'
        entry.resumed = true
      } else {
        entry.serverId = existing.id
        entry.resumed = true
      }
    }
  }

  async register () {
    const pending = [...this.entries.values()].filter((e) => e.status === 'queued' && !e.serverId)
    for (let start = 0; start < pending.length; start += REGISTER_BATCH) {
      let batch = pending.slice(start, start + REGISTER_BATCH)
      this.say(`Registering files ${start + 1}–${start + batch.length} of ${pending.length.toLocaleString()}…`, 'info')
      while (batch.length) {
        try {
          const answer = await api('POST', config.api.files, {
            json: { files: batch.map((e) => ({ path: e.path, size: e.size })) }
          })
          answer.files.forEach((file, index) => { batch[index].serverId = file.id })
          break
        } catch (error) {
          if (!(error instanceof ApiError) || error.status !== 400 || !Array.isArray(error.details)) throw error
          // All or nothing on the server: set the refused entries aside, register the others.
          const refused = new Set()
          for (const problem of error.details) {
            const entry = batch[problem.index]
            if (!entry || refused.has(problem.index)) continue
            refused.add(problem.index)
            this.reject(entry, problem.message, 'refused')
          }
          if (refused.size === 0) throw error
          batch = batch.filter((_, index) => !refused.has(index))
        }
      }
    }
    for (const entry of this.entries.values()) {
      if (entry.serverId && this.uppy.getFile(entry.id)) {
        this.uppy.setFileMeta(entry.id, { serverId: entry.serverId, resumed: Boolean(entry.resumed) })
      }
    }
  }

  /** Registered files from before: get their multipart upload id, so Uppy lists the parts S3
   * has and sends only the missing ones. */
  async resumeMultipart () {
    const resumed = [...this.entries.values()].filter((e) => e.status === 'queued' && e.resumed)
    const queue = [...resumed]
    const worker = async () => {
      while (queue.length) {
        const entry = queue.shift()
        const started = await api('POST', fileUrl(entry.serverId, 'multipart'))
        this.uppy.setFileState(entry.id, { s3Multipart: { uploadId: started.upload_id, key: String(entry.serverId) } })
      }
    }
    if (resumed.length) this.say(`Resuming ${resumed.length.toLocaleString()} interrupted file${resumed.length === 1 ? '' : 's'}…`, 'info')
    await Promise.all(Array.from({ length: PARALLEL_REQUESTS }, worker))
  }

  // -- progress --------------------------------------------------------------------------------

  onProgress (file, progress) {
    const entry = file && this.entries.get(file.id)
    if (!entry) return
    entry.status = 'uploading'
    entry.uploaded = Math.min(progress.bytesUploaded || 0, entry.size)
    entry.lastProgress = performance.now()
    this.scheduleRender()
  }

  onSuccess (file) {
    const entry = file && this.entries.get(file.id)
    if (!entry) return
    entry.status = 'done'
    entry.uploaded = entry.size
    entry.doneAt = performance.now()
    this.scheduleRender()
  }

  onError (file, error) {
    const entry = file && this.entries.get(file.id)
    if (!entry) return
    entry.status = 'failed'
    entry.message = error && error.message ? error.message : 'the upload failed'
    this.scheduleRender()
  }

  async onComplete (result) {
    const failed = [...this.entries.values()].filter((e) => e.status === 'failed')
    if (failed.length || (result && result.failed && result.failed.length)) {
      this.root.dataset.state = 'failed'
      this.say(`${failed.length.toLocaleString()} file${failed.length === 1 ? '' : 's'} could not be uploaded. Retry them, or reload the page later and choose the folder again: what arrived is kept.`, 'bad')
      this.$('#retry-button').hidden = false
      this.render()
      return
    }
    const waiting = [...this.entries.values()].filter((e) => e.status === 'queued' || e.status === 'uploading')
    if (waiting.length) return // paused, or files removed
    await this.finish()
  }

  /** Every file is stored: close the session and watch the ingest. */
  async finish () {
    this.root.dataset.state = 'finishing'
    this.$('#pause-button').hidden = true
    this.$('#retry-button').hidden = true
    try {
      await api('POST', config.api.complete)
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 409) {
        this.say(`The files are uploaded, but the session could not be closed: ${error.message}. Reload the page to try again.`, 'bad')
        this.running = false
        return
      }
    }
    this.running = false
    clearInterval(this.ticker)
    this.render()
    this.root.dataset.state = 'done'
    const rejected = this.problems.length
    this.say(`Upload complete${rejected ? ` (${rejected} file${rejected === 1 ? '' : 's'} not uploaded, see below)` : ''}. The files are being ingested: checksums, headers, metadata and previews.`, 'ok')
    const status = document.getElementById('ingest-status')
    if (window.htmx && status) {
      window.htmx.ajax('GET', config.statusUrl, { target: status, swap: 'outerHTML' })
    } else if (status) {
      window.location.reload()
    }
  }

  togglePause () {
    const button = this.$('#pause-button')
    if (button.dataset.paused === 'true') {
      button.dataset.paused = 'false'
      button.textContent = 'Pause'
      const chunks = this.uppy.getPlugin('OpenEMChunks')
      if (chunks) chunks.resumeAll()
      else this.uppy.resumeAll()
      this.root.dataset.state = 'uploading'
    } else {
      button.dataset.paused = 'true'
      button.textContent = 'Resume'
      const chunks = this.uppy.getPlugin('OpenEMChunks')
      if (chunks) chunks.pauseAll()
      else this.uppy.pauseAll()
      this.root.dataset.state = 'paused'
    }
  }

  retry () {
    this.$('#retry-button').hidden = true
    for (const entry of this.entries.values()) {
      if (entry.status === 'failed') { entry.status = 'queued'; entry.message = '' }
    }
    this.root.dataset.state = 'uploading'
    this.say('Retrying…', 'info')
    this.uppy.retryAll()
  }

  bytesDone () {
    let done = 0
    for (const entry of this.entries.values()) {
      if (entry.status !== 'rejected') done += entry.uploaded
    }
    return done
  }

  scheduleRender () {
    if (this.renderQueued) return
    this.renderQueued = true
    requestAnimationFrame(() => { this.renderQueued = false; this.render() })
  }

  render () {
    const now = performance.now()
    const done = this.bytesDone()
    const total = this.totalBytes || 1
    const last = this.samples[this.samples.length - 1]
    if (!last || now - last[0] >= 500) this.samples.push([now, done])
    while (this.samples.length > 2 && now - this.samples[0][0] > 15000) this.samples.shift()
    const first = this.samples[0]
    const speed = now > first[0] ? ((done - first[1]) / (now - first[0])) * 1000 : 0
    const percent = Math.min(100, (done / total) * 100)
    const bar = this.$('#overall-bar')
    bar.style.width = `${percent.toFixed(1)}%`
    bar.parentElement.setAttribute('aria-valuenow', percent.toFixed(0))
    this.$('#overall-bytes').innerHTML = `<strong>${percent.toFixed(1)}%</strong> · ${formatBytes(done)} of ${formatBytes(this.totalBytes)}`
    this.$('#overall-speed').textContent = speed > 0 ? `${formatBytes(speed)}/s` : ''
    this.$('#overall-eta').textContent = this.running && speed > 0 ? `${formatDuration((total - done) / speed)} left` : ''
    const counts = { uploading: 0, queued: 0, done: 0, failed: 0, rejected: 0 }
    for (const entry of this.entries.values()) counts[entry.status] = (counts[entry.status] || 0) + 1
    this.root.dataset.done = String(counts.done)
    this.$('#tally').innerHTML = [
      ['done', 'uploaded', 'ready'], ['uploading', 'sending', 'processing'], ['queued', 'waiting', 'registered'],
      ['failed', 'failed', 'failed'], ['rejected', 'not uploaded', 'draft']
    ].map(([key, label, badge]) => `<span data-tally="${key}"><span class="badge ${badge}">${(counts[key] || 0).toLocaleString()}</span> ${label}</span>`).join('')
    // Per-file rows: the files moving now, then the most recent ones done.
    const active = [...this.entries.values()].filter((e) => e.status === 'uploading')
    const recent = [...this.entries.values()].filter((e) => e.status === 'done' && e.doneAt).sort((a, b) => b.doneAt - a.doneAt)
    const rows = [...active, ...recent].slice(0, ROWS_SHOWN)
    this.$('#file-rows').innerHTML = rows.map((entry) => {
      const share = entry.size ? (entry.uploaded / entry.size) * 100 : 100
      const rate = entry.status === 'uploading' ? this.fileSpeed(entry, now) : 0
      const figures = entry.status === 'done'
        ? `${formatBytes(entry.size)} · done`
        : `${share.toFixed(0)}% of ${formatBytes(entry.size)}${rate > 0 ? ` · ${formatBytes(rate)}/s` : ''}`
      return `<li data-path="${escapeHtml(entry.path)}" data-status="${entry.status}"><span class="path" title="${escapeHtml(entry.path)}">${escapeHtml(entry.path)}</span>` +
        `<span class="progress ${entry.status === 'done' ? 'done' : ''}"><span style="width:${share.toFixed(1)}%"></span></span><span class="figures">${figures}</span></li>`
    }).join('')
    this.renderProblems()
  }

  fileSpeed (entry, now) {
    const samples = entry.samples || (entry.samples = [])
    samples.push([now, entry.uploaded])
    while (samples.length > 2 && now - samples[0][0] > 8000) samples.shift()
    const [t0, b0] = samples[0]
    return now > t0 ? ((entry.uploaded - b0) / (now - t0)) * 1000 : 0
  }

  renderProblems () {
    const failed = [...this.entries.values()].filter((e) => e.status === 'failed')
    const items = [
      ...this.problems.map((p) => ({ ...p, kind: p.kind })),
      ...failed.map((e) => ({ path: e.path, message: e.message, kind: 'failed' }))
    ]
    this.$('#problems').hidden = items.length === 0
    const shown = items.slice(0, 200)
    this.$('#problem-list').innerHTML = shown.map((p) =>
      `<li data-kind="${p.kind}"><span class="path">${escapeHtml(p.path)}</span>: ${escapeHtml(p.message)}</li>`
    ).join('') + (items.length > shown.length ? `<li class="meta">and ${items.length - shown.length} more</li>` : '')
  }

  say (text, tone = '') {
    const box = this.$('#upload-message')
    box.className = text ? `alert ${tone}` : ''
    box.textContent = text
  }
}

const root = document.getElementById('uploader')
if (root) {
  window.openemUploader = new SessionUploader(root)
}
