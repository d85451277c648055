// The mini-program's API client (docs/miniprogram-api.md), shaped by the OpenAPI document:
// operation names are its operationIds, bodies and answers its schemas (see
// sdk/node/src/openapi.d.ts, generated from docs/openapi.json). ``request`` is wx.request (or a
// test double with the same contract: {url, method, data, header, success, fail}).

/** @typedef {import('../../../sdk/node/src/openapi.d.ts').components['schemas']} Schemas */

export class ApiError extends Error {
  /** @param {number} status @param {{code: string, message: string, details: object}} error */
  constructor(status, error) {
    super(`${status} ${error.code}`);
    this.status = status;
    this.code = error.code;
    this.details = error.details;
  }
}

export class CardApi {
  /** @param {string} baseUrl @param {Function} request wx.request */
  constructor(baseUrl, request) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
    this.request = request;
    /** @type {string | null} */ this.token = null;
  }

  /** @param {string} method @param {string} path @param {object} [data] @returns {Promise<any>} */
  call(method, path, data) {
    /** @type {Record<string, string>} */
    const header = { 'Content-Type': 'application/json' };
    if (this.token) header.Authorization = `Bearer ${this.token}`;
    return new Promise((resolve, reject) => {
      this.request({
        url: this.baseUrl + path, method, data, header,
        /** @param {{statusCode: number, data: any}} answer */
        success: (answer) => (answer.statusCode >= 200 && answer.statusCode < 300
          ? resolve(answer.data) : reject(new ApiError(answer.statusCode, answer.data.error))),
        /** @param {{errMsg: string}} failure */
        fail: (failure) => reject(new Error(failure.errMsg)),
      });
    });
  }

  /** wechatLogin: the code of wx.login(). @param {string} jsCode @returns {Promise<Schemas['Login']>} */
  async wechatLogin(jsCode) {
    const login = await this.call('POST', '/api/mp/v1/auth/wechat', { code: jsCode });
    this.token = login.token;
    return login;
  }

  /** createBinding. @param {Schemas['BindingRequest']} person @returns {Promise<Schemas['Binding']>} */
  createBinding(person) { return this.call('POST', '/api/mp/v1/binding', person); }

  /** getCode: a fresh online code. @returns {Promise<Schemas['Code']>} */
  getCode() { return this.call('GET', '/api/mp/v1/card/code'); }

  /** postSeed: the seed for offline codes. @param {string} installationId @returns {Promise<Schemas['Seed']>} */
  postSeed(installationId) { return this.call('POST', '/api/mp/v1/card/seed', { installation_id: installationId }); }

  /** postChallenge: a nonce for a DGC2 certificate (120 s, once). @param {string} installationId @returns {Promise<Schemas['Challenge']>} */
  postChallenge(installationId) { return this.call('POST', '/api/mp/v1/card/offline/challenge', { installation_id: installationId }); }

  /** postCertificates: a 24-hour DGC2 device certificate. @param {Schemas['CertificateRequest']} request @returns {Promise<Schemas['Certificates']>} */
  postCertificates(request) { return this.call('POST', '/api/mp/v1/card/offline/certificates', request); }

  /** getBenefits: newest first; ``cursor`` the previous page's next_cursor. @param {string | null} [cursor] @returns {Promise<Schemas['BenefitPage']>} */
  getBenefits(cursor) { return this.call('GET', `/api/mp/v1/benefits${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`); }

  /** getCategories: the complaint categories. @returns {Promise<Schemas['Category'][]>} */
  getCategories() { return this.call('GET', '/api/mp/v1/complaint-categories'); }

  /** getComplaints: one's own, newest first. @returns {Promise<Schemas['ComplaintList']>} */
  getComplaints() { return this.call('GET', '/api/mp/v1/complaints'); }

  /** postComplaint. @param {Schemas['ComplaintRequest']} complaint @returns {Promise<Schemas['Complaint']>} */
  postComplaint(complaint) { return this.call('POST', '/api/mp/v1/complaints', complaint); }
}
