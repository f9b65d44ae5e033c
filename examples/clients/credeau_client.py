#!/usr/bin/env python3
"""Credeau's own Python examples, run against vendor-mock.

The two functions below are copied from Credeau's DeviceInsights documentation unchanged,
except that the host `https://deviceinsights.credeau.com` became BASE_URL. Usage:

    python3 examples/clients/credeau_client.py http://127.0.0.1:8080/credeau

It prints one line per documented case and exits non-zero if any case misbehaves.
Needs `requests` (pip install requests).
"""
import sys

BASE_URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080/credeau"

import requests
import json

def fetch_insights_sync(client_id, auth_token, user_id, groupings, timeout=30):
    """
    Fetch insights synchronously from the DeviceInsights API.
    
    Args:
        client_id (str): Client identifier
        auth_token (str): Authentication token
        user_id (str): User identifier
        groupings (list): List of insight categories to fetch
        timeout (int): Maximum time in seconds to wait for the response (default: 30)
    
    Returns:
        dict: The response containing insights data
    
    Raises:
        Exception: If request fails or timeout is exceeded
    """
    url = BASE_URL + "/api/insights"

    headers = {
        "x-client-id": client_id,
        "x-auth-token": auth_token,
        "Content-Type": "application/json"
    }

    payload = {
        "user_id": user_id,
        "client_id": client_id,
        "groupings": groupings
    }
    
    response = requests.post(url, headers=headers, json=payload, timeout=timeout)
    return response.json()


import requests
import json
import time

def fetch_insights_async(client_id, auth_token, user_id, groupings, timeout=30, max_retries=10, retry_delay=3):
    """
    Fetch insights asynchronously by polling the same endpoint until success.
    
    Args:
        client_id (str): Client identifier
        auth_token (str): Authentication token
        user_id (str): User identifier
        groupings (list): List of insight categories to fetch
        timeout (int): Maximum time in seconds to wait for the response (default: 30)
        max_retries (int): Maximum number of polling attempts
        retry_delay (int): Delay between polling attempts in seconds
    
    Returns:
        dict: The final response containing insights data
    
    Raises:
        Exception: If max retries exceeded, overall timeout exceeded, or request fails
    """
    url = BASE_URL + "/api/async_insights"

    headers = {
        "x-client-id": client_id,
        "x-auth-token": auth_token,
        "Content-Type": "application/json"
    }

    payload = {
        "user_id": user_id,
        "client_id": client_id,
        "groupings": groupings
    }
    
    start_time = time.time()
    
    for attempt in range(max_retries):
        # Check if we've exceeded the overall timeout
        elapsed_time = time.time() - start_time
        if elapsed_time >= timeout:
            raise Exception(f"Overall timeout of {timeout} seconds exceeded")
            
        try:
            response = requests.post(url, headers=headers, json=payload, timeout=3)
            
            if response.status_code == 200:
                return response.json()

            elif response.status_code == 202:
                # Request is still processing, wait and retry
                remaining_time = timeout - elapsed_time
                sleep_time = min(retry_delay, remaining_time)

                if sleep_time <= 0:
                    raise Exception(f"Overall timeout of {timeout} seconds exceeded")

                time.sleep(sleep_time)
                continue

            elif response.status_code in [502, 504]:
                # Handle gateway errors as temporary failures
                remaining_time = timeout - elapsed_time
                sleep_time = min(retry_delay, remaining_time)

                if sleep_time <= 0:
                    raise Exception(f"Overall timeout of {timeout} seconds exceeded")

                time.sleep(sleep_time)
                continue

            else:
                raise Exception(f"Request failed with status {response.status_code}: {response.text}")

        except requests.exceptions.Timeout:
            # Handle per-request timeout
            remaining_time = timeout - elapsed_time
            sleep_time = min(retry_delay, remaining_time)

            if sleep_time <= 0:
                raise Exception(f"Overall timeout of {timeout} seconds exceeded")

            time.sleep(sleep_time)
            continue

        except requests.exceptions.RequestException as e:
            raise Exception(f"Request failed: {str(e)}")
    
    raise Exception(f"Max retries ({max_retries}) exceeded while waiting for results")


def main():
    client_id, token, groupings = "test-client", "test-token", ["sms", "fraud", "extracted_sms"]
    failures = []

    def check(name, ok, detail=""):
        print(("ok   " if ok else "FAIL ") + name + (f": {detail}" if detail and not ok else ""))
        if not ok:
            failures.append(name)

    r = fetch_insights_sync(client_id, token, "client-user-1", groupings)
    check("sync: featurization completed with features", r.get("message") == "featurization completed" and "all_sms_count_nlp" in r, r.get("message"))
    r = fetch_insights_sync(client_id, token, "notfound-client-1", groupings)
    check("sync: user not found", r.get("message") == "user not found", r)
    r = fetch_insights_sync(client_id, "wrong-token", "client-user-1", groupings)
    check("sync: wrong token gives the credentials error", "Could not validate credentials" in r.get("error", ""), r)
    r = fetch_insights_sync(client_id, token, "pending-client-1", groupings)
    check("sync: a pending user still completes at once", r.get("message") == "featurization completed", r.get("message"))
    r = fetch_insights_async(client_id, token, "pending-client-2", groupings, timeout=30, max_retries=10, retry_delay=0.01)
    check("async: polls through 202s to completion", r.get("message") == "featurization completed", r.get("message"))
    r = fetch_insights_async(client_id, token, "flaky-client-1", groupings, timeout=30, max_retries=10, retry_delay=0.01)
    check("async: retries through 502s to completion", r.get("message") == "featurization completed", r.get("message"))
    try:
        fetch_insights_async(client_id, token, "ratelimited-client-1", groupings, timeout=30, max_retries=10, retry_delay=0.01)
        check("async: a 429 is fatal to the documented client", False, "no exception")
    except Exception as e:
        check("async: a 429 is fatal to the documented client", "429" in str(e), str(e))
    print(f"{len(failures)} failed" if failures else "all documented cases behave")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
